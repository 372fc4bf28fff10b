package inspector

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/internal/sink"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
	"github.com/geminiwebhooks/receiver/core/verify"
)

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// receiver is the core receiver (static scheme, memory store, the mux
// inline) behind the inspector's middleware and log handler, as the local
// server has it; without in, the bare receiver.
func receiver(tb testing.TB, in *Inspector) http.Handler {
	tb.Helper()
	v, err := verify.New(context.Background(), verify.Config{Secrets: []string{testSecret}})
	if err != nil {
		tb.Fatal(err)
	}
	var h slog.Handler = slog.NewJSONHandler(io.Discard, nil)
	if in != nil {
		h = in.LogHandler(h)
	}
	r, err := core.NewReceiver(core.ReceiverOptions{Verifier: v.Schemes(), Store: core.NewMemoryStore(1 << 20), Processor: core.NewMux(), Logger: slog.New(h)})
	if err != nil {
		tb.Fatal(err)
	}
	if in == nil {
		return r
	}
	return in.Wrap(r)
}

func post(tb testing.TB, h http.Handler, id string, body []byte, tamper bool) int {
	tb.Helper()
	sig, err := sign(testSecret, id, time.Now(), body)
	if err != nil {
		tb.Fatal(err)
	}
	if tamper {
		body = append(bytes.Clone(body), ' ')
	}
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	for k, v := range sig {
		req.Header[k] = v
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Code
}

func event(id string) []byte {
	return []byte(`{"type":"batch.cancelled","version":"v1","timestamp":"2026-12-01T00:00:00Z","data":{"id":"batches/` + id + `"}}`)
}

// The middleware and the log line together make an entry: id, type,
// outcome, status, job, reason; the body capped at MaxBody, the signature
// truncated; the ring keeps the last MaxEntries.
func TestEntries(t *testing.T) {
	in := New()
	h := receiver(t, in)
	tests := []struct {
		name          string
		id            string
		body          []byte
		tamper        bool
		status        int
		outcome, job  string
		reason        string
		bodyTruncated bool
	}{
		{"processed", "msg_one", event("one"), false, 200, "processed", "batches/one", "", false},
		{"duplicate", "msg_one", event("one"), false, 200, "duplicate", "batches/one", "", false},
		{"tampered", "msg_bad", event("bad"), true, 401, "rejected", "", "signature verification failed", false},
		{"large body", "msg_big", append(event("big")[:len(event("big"))-1], []byte(`,"pad":"`+strings.Repeat("x", 20<<10)+`"}`)...), false, 200, "processed", "batches/big", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := post(t, h, tc.id, tc.body, tc.tamper); got != tc.status {
				t.Fatalf("status %d, want %d", got, tc.status)
			}
			e := in.entries(nil)[0]
			if e.ID != tc.id || e.Outcome != tc.outcome || e.Status != tc.status || e.JobID != tc.job || !strings.Contains(e.Reason, tc.reason) {
				t.Errorf("entry %+v", e)
			}
			if e.Unverified != (tc.outcome == "rejected") {
				t.Errorf("unverified %v", e.Unverified)
			}
			wantLen := len(tc.body)
			if tc.tamper {
				wantLen++
			}
			if e.BodyTruncated != tc.bodyTruncated || e.BodyBytes != int64(wantLen) || len(e.Body) > MaxBody || (!tc.bodyTruncated && len(e.Body) != wantLen) {
				t.Errorf("body: %d kept of %d, truncated %v", len(e.Body), e.BodyBytes, e.BodyTruncated)
			}
			for _, kv := range e.Header {
				if strings.EqualFold(kv[0], "webhook-signature") && (!strings.Contains(kv[1], "…(") || len(kv[1]) > 30) {
					t.Errorf("signature kept as %q", kv[1])
				}
			}
		})
	}
	for i := 0; i < MaxEntries+5; i++ {
		post(t, h, "msg_fill_"+strconv.Itoa(i), event("fill"), false)
	}
	all := in.entries(nil)
	if len(all) != MaxEntries || all[0].ID != "msg_fill_"+strconv.Itoa(MaxEntries+4) || all[len(all)-1].ID != "msg_fill_5" { // 4 + 1005 kept: the first 9 went
		t.Errorf("ring: %d entries, newest %s, oldest %s", len(all), all[0].ID, all[len(all)-1].ID)
	}
}

// The task line of the queue's worker completes its delivery's entry.
func TestTaskLineUpdatesEntry(t *testing.T) {
	in := New()
	in.add(&Entry{ID: "msg_q", Outcome: "queued"})
	in.add(&Entry{ID: "msg_q", Outcome: "duplicate"})
	log := slog.New(in.LogHandler(slog.NewJSONHandler(io.Discard, nil))).With("component", "worker")
	log.Info(core.LineTask, "webhook_id", "msg_q", "outcome", "processed", "attempt", 1, "handlers", "ok", "handler_ms", 1.5, "latency_ms", 2.0)
	es := in.entries(nil)
	if es[1].Task != "processed" || es[1].Handlers != "ok" || es[1].HandlerMS != 1.5 || es[1].Attempt != 1 {
		t.Errorf("queued entry %+v", es[1])
	}
	if es[0].Task != "" {
		t.Errorf("the duplicate took the task line: %+v", es[0])
	}
}

// download serves only what a job's ledger record names under the sink.
func TestDownloadOnlyWhatTheLedgerNames(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := sink.NewFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	uri, err := s.Put(ctx, "batches/ok/output.jsonl", strings.NewReader("{\"a\":1}\n"), "application/jsonl")
	if err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("no"), 0o600)
	l := jobs.NewMemoryLedger(0)
	put := func(j jobs.Job) {
		if _, err := l.UpdateJob(ctx, j.ID, func(*jobs.Job) (*jobs.Job, error) { return &j, nil }); err != nil {
			t.Fatal(err)
		}
	}
	put(jobs.Job{ID: "batches/ok", Kind: "batch", Output: &jobs.Manifest{JobID: "batches/ok", URI: uri}})
	put(jobs.Job{ID: "batches/out", Kind: "batch", Output: &jobs.Manifest{JobID: "batches/out", URI: "file://" + secret}})
	in := New()
	in.Connect(Backend{Ledger: l, Sink: s})
	tests := []struct {
		query  string
		status int
		body   string
	}{
		{"id=batches/ok&what=output", 200, "{\"a\":1}\n"},
		{"id=batches/ok&what=manifest", 404, ""},
		{"id=batches/out&what=output", 404, ""},
		{"id=batches/none&what=output", 404, ""},
	}
	for _, tc := range tests {
		w := httptest.NewRecorder()
		in.download(w, httptest.NewRequest(http.MethodGet, Prefix+"download?"+tc.query, nil))
		if w.Code != tc.status || tc.body != "" && w.Body.String() != tc.body {
			t.Errorf("%s: %d %q", tc.query, w.Code, w.Body.String())
		}
	}
}

// BenchmarkDelivery is the receiver's delivery path (static, memory store,
// inline) bare, behind the inspector with no page open, and with one page
// connected (each delivery rendered and sent on its event stream).
func BenchmarkDelivery(b *testing.B) {
	body := event("bench")
	for _, mode := range []string{"bare", "inspector", "inspector+page"} {
		b.Run(mode, func(b *testing.B) {
			var in *Inspector
			if mode != "bare" {
				in = New()
			}
			h := receiver(b, in)
			if mode == "inspector+page" {
				// What events does for a page: subscribe, and start the flushes.
				ch := make(chan []byte, subscriberBuffer)
				in.subMu.Lock()
				in.subs[ch] = struct{}{}
				in.watchers.Add(1)
				in.flushing = true
				go in.flushLoop()
				in.subMu.Unlock()
				done := make(chan struct{})
				go func() {
					for range ch {
					}
					close(done)
				}()
				b.Cleanup(func() {
					in.subMu.Lock()
					delete(in.subs, ch)
					in.subMu.Unlock()
					close(ch)
					<-done
				})
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				if post(b, h, "msg_b"+strconv.Itoa(i), body, false) != 200 {
					b.Fatal("not processed")
				}
			}
		})
	}
}

// The deliveries list filters by type and outcome and finds a delivery or
// job id, in the HTML itself (no script needed).
func TestDeliveriesFilter(t *testing.T) {
	in := New()
	in.add(&Entry{ID: "msg_a", EventType: core.BatchSucceeded, Outcome: "processed", JobID: "batches/a"})
	in.add(&Entry{ID: "msg_b", EventType: core.BatchFailed, Outcome: "processed", JobID: "batches/b"})
	in.add(&Entry{ID: "msg_c", Outcome: "rejected", Unverified: true})
	w := httptest.NewRecorder()
	in.ServeHTTP(w, httptest.NewRequest(http.MethodGet, in.URL(""), nil))
	cookies := w.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("no session: %d %v", w.Code, w.Header())
	}
	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{"msg_a", "msg_b", "msg_c"}},
		{"type=batch.failed", []string{"msg_b"}},
		{"outcome=rejected", []string{"msg_c"}},
		{"q=batches/a", []string{"msg_a"}},
		{"q=msg_b&outcome=processed", []string{"msg_b"}},
		{"q=msg_b&outcome=rejected", nil},
	}
	for _, tc := range tests {
		req := httptest.NewRequest(http.MethodGet, Prefix+"?"+tc.query, nil)
		req.AddCookie(cookies[0])
		w := httptest.NewRecorder()
		in.ServeHTTP(w, req)
		for _, id := range []string{"msg_a", "msg_b", "msg_c"} {
			want := false
			for _, x := range tc.want {
				want = want || x == id
			}
			if got := strings.Contains(w.Body.String(), `data-id="`+id+`"`); got != want {
				t.Errorf("?%s: %s listed %v, want %v", tc.query, id, got, want)
			}
		}
	}
}

// A handler's attribute that shares a name with the line's own but not its
// kind (AddLineAttrs) is read as nothing, not a panic on the delivery path.
func TestLineAttrsOfAnotherKind(t *testing.T) {
	in := New()
	in.add(&Entry{ID: "msg_k", Outcome: "queued"})
	log := slog.New(in.LogHandler(slog.NewJSONHandler(io.Discard, nil)))
	log.Info(core.LineTask, "webhook_id", "msg_k", "outcome", "processed", "attempt", "first", "handler_ms", "fast", "latency_ms", true, "webhook_id_unverified", "no")
	e := in.entries(nil)[0]
	if e.Task != "processed" || e.Attempt != 0 || e.HandlerMS != 0 || e.TaskMS != 0 {
		t.Errorf("entry %+v", e)
	}
	var x Entry
	for _, a := range []slog.Attr{slog.String("status", "x"), slog.Int("handler_ms", 3), slog.Float64("status", 200)} {
		x.setDelivery(a)
	}
	if x.Status != 200 || x.HandlerMS != 3 {
		t.Errorf("mixed kinds: %+v", x)
	}
}
