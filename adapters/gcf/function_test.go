package gcf

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/internal/env"
	"github.com/geminiwebhooks/receiver/adapters/internal/wire"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/scripts/simulator/gemini"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
)

// sign is Standard Webhooks' v1 signature, from the simulator's signer
// (written independently of core).
func sign(secret, id string, ts int64, body []byte) string {
	sig, err := gemini.StaticSignature(secret, id, time.Unix(ts, 0), body)
	if err != nil {
		panic(err)
	}
	return sig
}

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// syncBuffer collects log output written from several goroutines.
type syncBuffer = testenv.SyncBuffer

type delivery struct {
	method string
	id     string
	ts     int64
	body   string
	sig    string // "" with id set: sign correctly
	bare   bool   // no webhook headers at all
}

func (d delivery) request(secret string) *http.Request {
	method := d.method
	if method == "" {
		method = http.MethodPost
	}
	r := httptest.NewRequest(method, "/", strings.NewReader(d.body))
	if d.bare {
		return r
	}
	sig := d.sig
	if sig == "" {
		sig = sign(secret, d.id, d.ts, []byte(d.body))
	}
	r.Header.Set("webhook-id", d.id)
	r.Header.Set("webhook-timestamp", strconv.FormatInt(d.ts, 10))
	r.Header.Set("webhook-signature", sig)
	return r
}

type answer struct {
	Outcome string `json:"outcome"`
	Reason  string `json:"reason"`
}

func serve(t *testing.T, f *function, r *http.Request) (int, answer) {
	t.Helper()
	w := httptest.NewRecorder()
	f.ServeHTTP(w, r)
	var a answer
	if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil {
		t.Fatalf("%s %s: body %q is not JSON: %v", r.Method, r.URL, w.Body.String(), err)
	}
	return w.Code, a
}

const event = `{"type":"batch.succeeded","version":"v1","timestamp":"2026-01-02T03:04:05Z","data":{"id":"batches/abc","output_file_uri":"files/out"}}`

// TestFunctionServesTheReceiver runs deliveries, in order, through the
// registered function as production builds it (wire.Build), memory store.
func TestFunctionServesTheReceiver(t *testing.T) {
	secret := gemini.NewSecret()
	var logs syncBuffer
	f := newWebhook(envOf(map[string]string{"WEBHOOK_SIGNING_SECRET": secret, "IDEMPOTENCY_STORE": "memory"}), newLogger(&logs), nil)
	t.Cleanup(func() { f.Close() })
	now := time.Now().Unix()

	steps := []struct {
		name    string
		d       delivery
		status  int
		outcome string
	}{
		{"signed delivery is processed", delivery{id: "msg_1", ts: now, body: event}, 200, "processed"},
		{"retry of it is a duplicate", delivery{id: "msg_1", ts: now + 1, body: event}, 200, "duplicate"},
		{"tampered body", delivery{id: "msg_2", ts: now, body: event, sig: sign(secret, "msg_2", now, []byte(event+" "))}, 401, "rejected"},
		{"other secret", delivery{id: "msg_3", ts: now, body: event, sig: sign(gemini.NewSecret(), "msg_3", now, []byte(event))}, 401, "rejected"},
		{"stale timestamp", delivery{id: "msg_4", ts: now - 3600, body: event}, 401, "rejected"},
		{"no webhook headers", delivery{body: event, bare: true}, 400, "rejected"},
		{"GET", delivery{method: http.MethodGet, bare: true}, 405, "rejected"},
	}
	for _, s := range steps {
		status, a := serve(t, f, s.d.request(secret))
		if status != s.status || a.Outcome != s.outcome {
			t.Errorf("%s: got %d %q (%s), want %d %q", s.name, status, a.Outcome, a.Reason, s.status, s.outcome)
		}
	}

	out := logs.String()
	if strings.Contains(out, secret) || strings.Contains(out, strings.TrimPrefix(secret, "whsec_")) {
		t.Error("the signing secret appears in the log")
	}
	var processed map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		if m["message"] == "delivery" && m["outcome"] == "processed" {
			processed = m
		}
	}
	if processed == nil {
		t.Fatalf("no log line for the processed delivery in:\n%s", out)
	}
	for k, want := range map[string]any{"severity": "INFO", "webhook_id": "msg_1", "event_type": "batch.succeeded", "scheme": "static", "status": 200.0} {
		if processed[k] != want {
			t.Errorf("log line %s = %v, want %v", k, processed[k], want)
		}
	}
}

// TestFunctionBuildsOnceOnFirstRequest: nothing is built at start-up; the
// first requests, however many arrive together, build exactly once.
func TestFunctionBuildsOnceOnFirstRequest(t *testing.T) {
	var builds atomic.Int32
	build := func(ctx context.Context, cfg env.Config, _ *core.Mux, log *slog.Logger) (*wire.App, error) {
		builds.Add(1)
		time.Sleep(20 * time.Millisecond) // let the other first requests pile up
		return wireBuild(ctx, cfg, nil, log)
	}
	f := newFunction(envOf(map[string]string{"WEBHOOK_SIGNING_SECRET": gemini.NewSecret(), "IDEMPOTENCY_STORE": "memory"}), newLogger(&syncBuffer{}), nil, build)
	t.Cleanup(func() { f.Close() })
	if n := builds.Load(); n != 0 {
		t.Fatalf("built %d times before any request", n)
	}
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := httptest.NewRecorder()
			f.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
			if w.Code != http.StatusMethodNotAllowed {
				t.Errorf("GET: %d, want 405", w.Code)
			}
		}()
	}
	wg.Wait()
	if n := builds.Load(); n != 1 {
		t.Fatalf("built %d times, want 1", n)
	}
}

// TestFunctionMisconfigured: the process keeps serving, says why at start-up,
// answers deliveries 500 (Gemini retries them) and never builds.
func TestFunctionMisconfigured(t *testing.T) {
	secret := gemini.NewSecret()
	cases := []struct {
		name string
		env  map[string]string
		want string // in the start-up log's error
	}{
		{"no scheme", map[string]string{"GOOGLE_CLOUD_PROJECT": "p"}, "no signature scheme"},
		{"Firestore without a project", map[string]string{"WEBHOOK_SIGNING_SECRET": secret}, "GOOGLE_CLOUD_PROJECT is unset"},
		{"the other cloud's sink", map[string]string{"WEBHOOK_SIGNING_SECRET": secret, "GOOGLE_CLOUD_PROJECT": "p", "RESULTS_SINK": "s3://b/p"}, "RESULTS_SINK"},
		{"a sink of no known scheme", map[string]string{"WEBHOOK_SIGNING_SECRET": secret, "GOOGLE_CLOUD_PROJECT": "p", "RESULTS_SINK": "ftp://x"}, "RESULTS_SINK"},
		{"malformed secret", map[string]string{"WEBHOOK_SIGNING_SECRET": "whsec_" + "not-base64!" + secret[6:]}, "WEBHOOK_SIGNING_SECRET"},
		{"TTL shorter than Gemini's retries", map[string]string{"WEBHOOK_SIGNING_SECRET": secret, "IDEMPOTENCY_TTL": "1h"}, "IDEMPOTENCY_TTL"},
		{"unknown store", map[string]string{"WEBHOOK_SIGNING_SECRET": secret, "IDEMPOTENCY_STORE": "redis"}, "IDEMPOTENCY_STORE"},
		{"forwarding half configured", map[string]string{"WEBHOOK_SIGNING_SECRET": secret, "FORWARD_URL": "https://example.com/h"}, "FORWARD_SIGNING_SECRET"},
		{"queue that is not a topic name", map[string]string{"WEBHOOK_SIGNING_SECRET": secret, "QUEUE": "pubsub:gemini-events"}, "QUEUE"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var logs syncBuffer
			built := false
			f := newFunction(envOf(c.env), newLogger(&logs), nil, func(context.Context, env.Config, *core.Mux, *slog.Logger) (*wire.App, error) {
				built = true
				return nil, errors.New("must not be called")
			})
			var start map[string]any
			if err := json.Unmarshal([]byte(strings.SplitN(logs.String(), "\n", 2)[0]), &start); err != nil {
				t.Fatalf("no JSON start-up line: %q", logs.String())
			}
			if start["severity"] != "ERROR" || !strings.Contains(fmt.Sprint(start["error"]), c.want) || !strings.Contains(fmt.Sprint(start["message"]), "misconfigured") {
				t.Errorf("start-up line %v: want severity ERROR, a message saying misconfigured, an error naming %q", start, c.want)
			}
			now := time.Now().Unix()
			for i := range 2 { // every delivery, not just the first
				if status, a := serve(t, f, delivery{id: "msg_" + strconv.Itoa(i), ts: now, body: event}.request(secret)); status != 500 || a.Outcome != "failed" {
					t.Errorf("delivery %d: %d %q, want 500 failed", i, status, a.Outcome)
				}
			}
			if status, _ := serve(t, f, delivery{method: http.MethodGet, bare: true}.request(secret)); status != 405 {
				t.Errorf("GET: %d, want 405", status)
			}
			if built {
				t.Error("a misconfigured function built the receiver")
			}
			if strings.Contains(logs.String(), secret[6:]) {
				t.Error("the signing secret appears in the log")
			}
		})
	}
}

// TestFunctionBuildFailureIsRetried: a failed build answers 503 and the next
// delivery builds again.
func TestFunctionBuildFailureIsRetried(t *testing.T) {
	secret := gemini.NewSecret()
	var calls atomic.Int32
	build := func(ctx context.Context, cfg env.Config, _ *core.Mux, log *slog.Logger) (*wire.App, error) {
		if calls.Add(1) == 1 {
			return nil, errors.New("credentials not found")
		}
		return wireBuild(ctx, cfg, nil, log)
	}
	var logs syncBuffer
	f := newFunction(envOf(map[string]string{"WEBHOOK_SIGNING_SECRET": secret, "IDEMPOTENCY_STORE": "memory"}), newLogger(&logs), nil, build)
	t.Cleanup(func() { f.Close() })
	now := time.Now().Unix()
	d := delivery{id: "msg_retry", ts: now, body: event}
	if status, a := serve(t, f, d.request(secret)); status != 503 || a.Outcome != "failed" {
		t.Fatalf("first delivery: %d %q, want 503 failed", status, a.Outcome)
	}
	if !strings.Contains(logs.String(), "credentials not found") {
		t.Errorf("the build error is not logged:\n%s", logs.String())
	}
	if status, a := serve(t, f, d.request(secret)); status != 200 || a.Outcome != "processed" {
		t.Fatalf("retry: %d %q, want 200 processed", status, a.Outcome)
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("built %d times, want 2", n)
	}
}

func TestCloudLoggingKeys(t *testing.T) {
	cases := []struct {
		level slog.Level
		want  string
	}{
		{slog.LevelDebug, "DEBUG"}, {slog.LevelInfo, "INFO"}, {slog.LevelWarn, "WARNING"},
		{slog.LevelError, "ERROR"}, {slog.LevelError + 4, "ERROR"},
	}
	for _, c := range cases {
		if got := severity(c.level); got != c.want {
			t.Errorf("severity(%v) = %s, want %s", c.level, got, c.want)
		}
	}
	var b bytes.Buffer
	newLogger(&b).Warn("m", "k", "v", slog.Group("g", "level", "x"))
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	g, _ := m["g"].(map[string]any)
	if m["severity"] != "WARNING" || m["message"] != "m" || m["k"] != "v" || m["level"] != nil || m["msg"] != nil || g["level"] != "x" {
		t.Errorf("logged %v, want severity WARNING, message m, and grouped keys untouched", m)
	}
}

// Each deployed function registers all three entry points but serves only
// FUNCTION_TARGET: GeminiReconcile's missing GEMINI_API_KEY is logged
// (and alerted on) only where GeminiReconcile is the target.
func TestOnlyTheTargetReportsItsMistake(t *testing.T) {
	secret := gemini.NewSecret()
	for _, c := range []struct {
		target string
		logged bool
	}{{EntryPoint, false}, {WorkerEntryPoint, false}, {ReconcileEntryPoint, true}, {"", true}} {
		var logs syncBuffer
		vars := map[string]string{"WEBHOOK_SIGNING_SECRET": secret, "IDEMPOTENCY_STORE": "memory", "FUNCTION_TARGET": c.target}
		NewReconciler(envOf(vars), newLogger(&logs), core.NewMux())
		if got := strings.Contains(logs.String(), "GeminiReconcile is misconfigured"); got != c.logged {
			t.Errorf("FUNCTION_TARGET=%q: logged %v, want %v:\n%s", c.target, got, c.logged, logs.String())
		}
	}
}
