package local

import (
	"context"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/scripts/simulator/gemini"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
)

// The local server installs its logger for the handlers (slog.Default and
// core.Logger(ctx) write its JSON lines on its stdout), and its queue's
// worker writes the event's "task" line with what the handler added. The
// old server logged "queued" and then nothing for a handler that succeeded;
// its handlers' slog lines went to stderr as plain text.
func TestLocalServerShowsWhatHandlersDo(t *testing.T) {
	testenv.KeepDefaultLogger(t)
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	vars := map[string]string{
		"WEBHOOK_SIGNING_SECRET": secret, "PORT": strconv.Itoa(port),
		"STATE_PATH": filepath.Join(dir, "state.db"), "RESULTS_SINK": filepath.Join(dir, "results"),
	}
	stdout, stderr := &testenv.SyncBuffer{}, &testenv.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, testenv.LoggingMux(), func(k string) string { return vars[k] }, stdout, stderr)
	}()
	defer func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("run: %v", err)
		}
	}()

	url := "http://127.0.0.1:" + strconv.Itoa(port)
	body := `{"type":"batch.cancelled","version":"v1","data":{"id":"batches/local-log"}}`
	deadline := time.Now().Add(20 * time.Second)
	for {
		now := time.Now()
		sig, err := gemini.StaticSignature(secret, "msg_local_log", now, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		req.Header.Set("webhook-id", "msg_local_log")
		req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
		req.Header.Set("webhook-signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				t.Fatalf("status %d, want 202 (queued)", resp.StatusCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not up: %v\n%s", err, stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for testenv.Find(testenv.Lines(stdout.String()), "msg", "task", "msg_local_log") == nil {
		if time.Now().After(deadline) {
			t.Fatalf("no task line:\n%s", stdout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	testenv.CheckHandlerLogs(t, stdout.String(), "msg", "task", "msg_local_log", []string{"time", "level"}, nil)
	if d := testenv.Find(testenv.Lines(stdout.String()), "msg", "delivery", "msg_local_log"); d == nil || d["outcome"] != "queued" {
		t.Errorf("delivery line %v, want outcome queued", d)
	}
}
