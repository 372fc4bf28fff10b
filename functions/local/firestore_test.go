package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/geminiwebhooks/receiver/adapters/firestore"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
)

const twoProcessSecret = "whsec_dHdvLXByb2Nlc3Nlcy1zaGFyZS1vbmUtZmlyZXN0b3Jl"

// receiver is one `local` process started by the test.
type receiver struct {
	url    string
	cmd    *exec.Cmd
	exited chan error
	stdout string // file holding its JSON log lines
}

// Two receiver processes share the Firestore emulator, as two function
// instances share Firestore. A few hundred ids are each delivered 4 times,
// interleaved across both processes and concurrently; every non-2xx answer
// is retried as Gemini would. Every id must be processed exactly once
// (counted from the processes' own log lines) and every delivery must end 2xx.
func TestTwoProcessesShareFirestore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the Firestore emulator and two receiver processes")
	}
	ctx := context.Background()
	began := time.Now()
	fs, err := testenv.StartFirestore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Stop()
	warmUpEmulator(t, fs.Host)
	t.Logf("emulator up and warm after %s", time.Since(began).Round(time.Millisecond))

	bin := buildLocal(t)
	project := fmt.Sprintf("two-process-%d", time.Now().UnixNano())
	procs := []*receiver{startReceiver(t, bin, fs.Host, project), startReceiver(t, bin, fs.Host, project)}
	t.Logf("receivers built and listening after %s", time.Since(began).Round(time.Millisecond))

	const ids, copies = 300, 4
	type delivery struct {
		id   string
		body []byte
	}
	var all []delivery
	for i := range ids {
		id := fmt.Sprintf("msg_two_%03d", i)
		body := fmt.Appendf(nil, `{"type":"batch.succeeded","version":"v1","data":{"id":"batches/%d","output_file_uri":"files/out-%d"}}`, i, i)
		for range copies {
			all = append(all, delivery{id, body})
		}
	}
	// Shuffle within windows of 40: an id's copies stay close, so the
	// workers deliver them at the same moment, to both processes.
	testenv.ShuffleWindows(all, 40, rand.New(rand.NewPCG(1, 2)))

	wh, err := standardwebhooks.NewWebhook(twoProcessSecret)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 15 * time.Second}
	// Retries land on either process.
	answers, failures := testenv.Redeliver(len(all), 24, time.Now().Add(90*time.Second), func(i, attempt int) int {
		return post(client, wh, procs[(i+attempt)%len(procs)].url, all[i].id, all[i].body)
	})
	t.Logf("%d deliveries, answers by status over all attempts: %v; all answered after %s", len(all), answers, time.Since(began).Round(time.Millisecond))
	if failures > 0 {
		t.Errorf("%d deliveries never got a 2xx", failures)
	}

	processed := map[string]int{}
	for pi, p := range procs {
		stopReceiver(t, p)
		n := 0
		for _, line := range logLines(t, p.stdout) {
			if line.Msg == "delivery" && line.Outcome == "processed" {
				processed[line.WebhookID]++
				n++
			}
		}
		t.Logf("process %d processed %d ids", pi, n)
		if n == 0 {
			t.Errorf("process %d processed nothing: the deliveries were not interleaved", pi)
		}
	}
	for i := range ids {
		id := fmt.Sprintf("msg_two_%03d", i)
		if processed[id] != 1 {
			t.Errorf("%s processed %d times, want exactly 1", id, processed[id])
		}
	}
	if len(processed) != ids {
		t.Errorf("processed %d distinct ids, want %d", len(processed), ids)
	}
}

func post(c *http.Client, wh *standardwebhooks.Webhook, url, id string, body []byte) int {
	ts := time.Now()
	sig, err := wh.Sign(id, ts, body)
	if err != nil {
		return 0
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := c.Do(req)
	if err != nil {
		return 0 // no answer: Gemini retries
	}
	resp.Body.Close()
	return resp.StatusCode
}

func buildLocal(t *testing.T) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "local")
	cmd := exec.Command("go", "build", "-o", bin, "./functions/local")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./functions/local: %v\n%s", err, out)
	}
	return bin
}

func startReceiver(t *testing.T, bin, emulatorHost, project string) *receiver {
	t.Helper()
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	stdout, err := os.Create(filepath.Join(dir, "stdout.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	stderr, err := os.Create(filepath.Join(dir, "stderr.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"IDEMPOTENCY_STORE=firestore",
		"FIRESTORE_EMULATOR_HOST=" + emulatorHost,
		"GOOGLE_CLOUD_PROJECT=" + project,
		"PORT=" + strconv.Itoa(port),
		"WEBHOOK_SIGNING_SECRET=" + twoProcessSecret,
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	r := &receiver{url: fmt.Sprintf("http://127.0.0.1:%d/", port), cmd: cmd, exited: exited, stdout: stdout.Name()}
	go func() { exited <- cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited: // already stopped: its group id may belong to someone else now
		default:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})

	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			conn.Close()
			return r
		}
		select {
		case err := <-exited:
			out, _ := os.ReadFile(stderr.Name())
			t.Fatalf("receiver exited: %v\n%s", err, out)
		default:
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(stderr.Name())
			t.Fatalf("receiver not listening after 30s\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stopReceiver ends the process group with SIGTERM (a graceful shutdown
// flushes nothing we need, but it is what an operator does), then SIGKILL.
func stopReceiver(t *testing.T, r *receiver) {
	t.Helper()
	pgid := r.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(10 * time.Second):
		t.Errorf("receiver %s did not stop on SIGTERM", r.url)
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-r.exited
	}
}

type logLine struct {
	Msg       string `json:"msg"`
	WebhookID string `json:"webhook_id"`
	Outcome   string `json:"outcome"`
}

func logLines(t *testing.T, path string) []logLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []logLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l logLine
		if json.Unmarshal(sc.Bytes(), &l) == nil {
			out = append(out, l)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// warmUpEmulator makes the emulator's first, slow requests (class loading,
// JIT) before the receivers start: a claim write that outlives the
// receiver's store deadline lands anyway and strands the id for a whole
// lease (60 s locally), which would only slow this test down.
func warmUpEmulator(t *testing.T, host string) {
	t.Helper()
	t.Setenv("FIRESTORE_EMULATOR_HOST", host)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := firestore.New(ctx, firestore.Config{ProjectID: "warm-up", CallTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	for i := range 20 {
		c := core.Claim{Key: fmt.Sprint("warm-", i), Owner: "w", Now: now, LeaseUntil: now.Add(time.Minute)}
		if _, err := s.Claim(ctx, c); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Claim(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := s.Complete(ctx, c, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
}
