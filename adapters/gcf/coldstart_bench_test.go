package gcf

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/geminiwebhooks/receiver/scripts/simulator/gemini"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
)

// BenchmarkColdStart is a Cloud Function's process start → first 2xx,
// alternating GeminiWebhook (functions/gcp/serve: the Functions Framework,
// the configuration, and the receiver built on the first request, memory
// store) with a bare functions-framework function (testdata/bare, the
// floor): first-2xx-ms, bare-first-2xx-ms, their ratio in the same run
// (goal ≤ 1.5) and the binaries' sizes. A third, testdata/deps, is the bare
// function linking Firestore and genai without using them: deps-ratio is
// how much of the gap their package initialisation alone accounts for.
//
//	go test ./adapters/gcf -run '^$' -bench ColdStart -benchtime 10x
func BenchmarkColdStart(b *testing.B) {
	root, err := testenv.RepoRoot()
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	build := func(name, pkg string) string {
		bin := filepath.Join(dir, name)
		cmd := exec.Command("go", "build", "-ldflags=-s -w", "-o", bin, pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
		return bin
	}
	fn, bare, deps := build("serve", "./functions/gcp/serve"), build("bare", "./adapters/gcf/testdata/bare"), build("deps", "./adapters/gcf/testdata/deps")
	secret := gemini.NewSecret()
	var fnMS, bareMS, depsMS float64
	n := 0
	for b.Loop() {
		bareMS += firstAnswer(b, bare, nil, "")
		fnMS += firstAnswer(b, fn, []string{"IDEMPOTENCY_STORE=memory", "WEBHOOK_SIGNING_SECRET=" + secret}, secret)
		depsMS += firstAnswer(b, deps, nil, "")
		n++
	}
	b.ReportMetric(fnMS/float64(n), "first-2xx-ms")
	b.ReportMetric(bareMS/float64(n), "bare-first-2xx-ms")
	b.ReportMetric(fnMS/bareMS, "ratio")
	b.ReportMetric(depsMS/bareMS, "deps-ratio")
	for name, p := range map[string]string{"function-MB": fn, "bare-MB": bare, "deps-MB": deps} {
		if fi, err := os.Stat(p); err == nil {
			b.ReportMetric(float64(fi.Size())/1e6, name)
		}
	}
}

// firstAnswer starts bin and posts a delivery (signed with secret, when
// set) until it is answered 2xx; it returns the milliseconds from the
// process's start.
func firstAnswer(b *testing.B, bin string, env []string, secret string) float64 {
	b.Helper()
	port, err := testenv.FreePort()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + b.TempDir(), "FUNCTION_TARGET=GeminiWebhook", "K_SERVICE=GeminiWebhook", "PORT=" + strconv.Itoa(port)}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	body := []byte(`{"type":"batch.failed","version":"v1","data":{"id":"batches/cold"}}`)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() }()
	client := &http.Client{Timeout: 5 * time.Second}
	for deadline := start.Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Microsecond) {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if secret != "" {
			wh, _ := standardwebhooks.NewWebhook(secret)
			id := fmt.Sprint("msg_cold_", time.Now().UnixNano())
			sig, _ := wh.Sign(id, time.Now(), body)
			req.Header.Set("webhook-id", id)
			req.Header.Set("webhook-timestamp", strconv.FormatInt(time.Now().Unix(), 10))
			req.Header.Set("webhook-signature", sig)
		}
		resp, err := client.Do(req)
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			return float64(time.Since(start).Microseconds()) / 1000
		}
		b.Fatalf("%s answered %d", bin, resp.StatusCode)
	}
	b.Fatalf("%s never answered", bin)
	return 0
}
