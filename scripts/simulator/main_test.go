package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/verify"
	"github.com/geminiwebhooks/receiver/scripts/simulator/gemini"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
)

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// receiver is the real core handler on a memory store.
func receiver(t *testing.T, v core.Verifier) http.Handler {
	t.Helper()
	h, err := core.NewReceiver(core.ReceiverOptions{
		Verifier:  v,
		Store:     core.NewMemoryStore(0),
		Processor: core.NewMux(),
		Logger:    discardLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func staticReceiver(t *testing.T) http.Handler {
	t.Helper()
	v, err := verify.New(context.Background(), verify.Config{Secrets: []string{testSecret}})
	if err != nil {
		t.Fatal(err)
	}
	return receiver(t, v.Schemes())
}

func runSim(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut bytes.Buffer
	code = run(ctx, args, func(string) string { return "" }, &out, &errOut)
	return code, out.String(), errOut.String()
}

func reports(t *testing.T, stdout string) []deliveryReport {
	t.Helper()
	var rs []deliveryReport
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var r deliveryReport
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("not a JSON report line: %q", line)
		}
		rs = append(rs, r)
	}
	return rs
}

func TestRunAgainstReceiver(t *testing.T) {
	srv := httptest.NewServer(staticReceiver(t))
	defer srv.Close()
	secretFile := filepath.Join(t.TempDir(), "dev-secret")
	if err := os.WriteFile(secretFile, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want map[string]int // deliveries per kind
	}{
		{"secret, all", []string{"--secret", testSecret}, map[string]int{"event": 10, "duplicate": 1, "stale": 1, "tampered": 1}},
		{"secret file, malformed, 2 duplicates", []string{"--secret-file", secretFile, "--malformed", "--duplicates", "2"},
			map[string]int{"event": 10, "duplicate": 2, "stale": 1, "tampered": 1, "malformed": 1}},
		{"events subset only", []string{"--secret", testSecret, "--scenario", "events", "--events", "batch.failed,video.generated,model.tuned"},
			map[string]int{"event": 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runSim(t, append([]string{"--url", srv.URL, "--json"}, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d\n%s%s", code, out, errOut)
			}
			got := map[string]int{}
			for _, r := range reports(t, out) {
				got[r.Kind]++
				if !r.OK || r.Attempts != 1 || !strings.HasPrefix(r.WebhookID, "msg_") {
					t.Errorf("report %+v: want ok on the first attempt", r)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("deliveries %v, want %v", got, tc.want)
			}
		})
	}
}

// A receiver that accepts everything is caught: exit 1, and the table marks
// the duplicate, stale and tampered deliveries as failed.
func TestRunDetectsWrongAnswers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"outcome":"processed"}`))
	}))
	defer srv.Close()
	code, out, _ := runSim(t, "--url", srv.URL, "--secret", testSecret)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	var failed []string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "FAIL") {
			failed = append(failed, strings.Fields(line)[1])
		}
	}
	if fmt.Sprint(failed) != "[duplicate stale tampered]" {
		t.Fatalf("failed lines %v, want duplicate, stale, tampered\n%s", failed, out)
	}
	if !strings.Contains(out, "13 deliveries: 10 as expected, 3 not") {
		t.Fatalf("no summary in\n%s", out)
	}
}

// Deliveries answered 503 are retried with the same id until they pass.
func TestRunRetriesUnavailableReceiver(t *testing.T) {
	inner := staticReceiver(t)
	var mu sync.Mutex
	seen := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(gemini.HeaderID)
		mu.Lock()
		first := !seen[id]
		seen[id] = true
		mu.Unlock()
		if first {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	defer srv.Close()
	code, out, errOut := runSim(t, "--url", srv.URL, "--secret", testSecret, "--json", "--initial-backoff", "1ms", "--events", "batch.succeeded,batch.failed")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, r := range reports(t, out) {
		want := 2
		if r.Kind == "duplicate" {
			want = 1 // its id was already seen
		}
		if r.Attempts != want {
			t.Errorf("%s %s: %d attempts, want %d", r.Kind, r.EventType, r.Attempts, want)
		}
	}
}

// The dynamic scheme against core's verifier, which starts before the
// simulator serves its key set (a cold start with the JWKS down).
func TestRunJWT(t *testing.T) {
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	jwksURL := fmt.Sprintf("http://127.0.0.1:%d%s", port, gemini.JWKSPath)
	v, err := verify.New(ctx, verify.Config{
		Audience: "aud-test", Issuer: "iss-test",
		JWKSURL: jwksURL, HTTPClient: &http.Client{Timeout: 2 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(receiver(t, v.Schemes()))
	defer srv.Close()

	code, out, errOut := runSim(t, "--url", srv.URL, "--jwt", "--jwks-port", fmt.Sprint(port),
		"--audience", "aud-test", "--issuer", "iss-test", "--malformed", "--json")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if want := "WEBHOOK_AUDIENCE=aud-test WEBHOOK_JWKS_URL=" + jwksURL + " WEBHOOK_ISSUER=iss-test"; !strings.Contains(errOut, want) {
		t.Fatalf("stderr does not tell the receiver's settings %q:\n%s", want, errOut)
	}
	if n := len(reports(t, out)); n != 14 {
		t.Fatalf("%d deliveries, want 14", n)
	}
}

func TestParseFlagsErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--secret", testSecret}, "--url"},
		{[]string{"--url", "ftp://x", "--secret", testSecret}, "--url"},
		{[]string{"--url", "http://127.0.0.1:1", "--scenario", "most", "--secret", testSecret}, "--scenario"},
		{[]string{"--url", "http://127.0.0.1:1", "--jwt", "--secret", testSecret}, "exclusive"},
		{[]string{"--url", "http://127.0.0.1:1"}, "--secret"},
		{[]string{"--url", "http://127.0.0.1:1", "--secret", "whsec_***"}, "not base64"},
	} {
		code, _, errOut := runSim(t, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and a message about %s", tc.args, code, errOut, tc.want)
		}
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// The standin subcommand serves the Gemini API stand-in as a process: it
// prints where, demands its key, answers any batch as succeeded with the
// output file the simulator's events name, serves that file, and stops
// when interrupted.
func TestStandin(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	out, errw := &testenv.SyncBuffer{}, &testenv.SyncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"standin", "--addr", "127.0.0.1:0", "--size", "4096"}, func(string) string { return "" }, out, errw)
	}()
	var base string
	for deadline := time.Now().Add(10 * time.Second); base == ""; time.Sleep(10 * time.Millisecond) {
		if m := regexp.MustCompile(`GOOGLE_GEMINI_BASE_URL=(\S+) GEMINI_API_KEY=standin`).FindStringSubmatch(out.String()); m != nil {
			base = m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no address printed: %q %q", out.String(), errw.String())
		}
	}
	get := func(path, key string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodGet, base+"/v1beta/"+path, nil)
		req.Header.Set("x-goog-api-key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	var env struct {
		Data struct {
			ID            string `json:"id"`
			OutputFileURI string `json:"output_file_uri"`
		}
	}
	if err := json.Unmarshal(gemini.Payload("batch.succeeded"), &env); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(env.Data.ID, "wrong"); code != http.StatusForbidden {
		t.Fatalf("wrong key: %d, want 403", code)
	}
	code, b := get(env.Data.ID, "standin")
	if code != http.StatusOK || !strings.Contains(string(b), "BATCH_STATE_SUCCEEDED") || !strings.Contains(string(b), `"responsesFile":"`+env.Data.OutputFileURI+`"`) {
		t.Fatalf("batches.get: %d %s, want succeeded with the event's output %s", code, b, env.Data.OutputFileURI)
	}
	if code, b := get(env.Data.OutputFileURI+":download?alt=media", "standin"); code != http.StatusOK || len(b) != 4096 {
		t.Fatalf("download: %d, %d bytes, want 4096", code, len(b))
	}
	// --standin: a batch.failed the simulator announces is failed in the API too.
	failed := gemini.Delivery{ID: gemini.NewID(), EventType: "batch.failed", Body: gemini.Payload("batch.failed")}
	if err := announce(ctx, base, failed); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(failed.Body, &env); err != nil {
		t.Fatal(err)
	}
	if code, b := get(env.Data.ID, "standin"); code != http.StatusOK || !strings.Contains(string(b), "BATCH_STATE_FAILED") {
		t.Fatalf("announced failed batch: %d %s, want BATCH_STATE_FAILED", code, b)
	}
	cancel()
	select {
	case c := <-done:
		if c != 0 {
			t.Fatalf("exit %d", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stand-in did not stop")
	}
}

// The local server's hints tell users to run the simulator with `go run
// github.com/geminiwebhooks/receiver/scripts/simulator` from their own
// module: that works only while the simulator needs no module the local
// server (local.Main, which their go.sum already covers) does not.
func TestSimulatorNeedsNoModuleBeyondTheLocalServer(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	modules := func(pkg string) map[string]bool {
		cmd := exec.Command("go", "list", "-deps", "-f", "{{with .Module}}{{.Path}}{{end}}", pkg)
		cmd.Dir = root
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		m := map[string]bool{}
		for _, l := range strings.Fields(string(out)) {
			m[l] = true
		}
		return m
	}
	local := modules("./adapters/local")
	for m := range modules("./scripts/simulator") {
		if !local[m] {
			t.Errorf("the simulator needs module %s, which a user's local.Main does not link: `go run …/scripts/simulator` would fail on a missing go.sum entry in their module", m)
		}
	}
}
