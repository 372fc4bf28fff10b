package core_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/internal/delivery"
	"github.com/geminiwebhooks/receiver/core/internal/signature"
	"github.com/geminiwebhooks/receiver/core/internal/signature/sigtest"
)

// fixture is a handler on a memory store with a counting processor.
type fixture struct {
	h         *Receiver
	store     *MemoryStore
	logs      *bytes.Buffer
	processed atomic.Int64
	now       time.Time
	process   func(ctx context.Context, ev *Event) error
}

func newFixture(t testing.TB, mod func(*ReceiverOptions)) *fixture {
	t.Helper()
	f := &fixture{store: NewMemoryStore(0), logs: &bytes.Buffer{}, now: time.Unix(1_800_000_000, 0)}
	sv, err := signature.NewStaticVerifier([]string{sigtest.SecretA}, 0)
	if err != nil {
		t.Fatal(err)
	}
	o := ReceiverOptions{
		Verifier: signature.SchemeVerifier{Static: sv},
		Store:    f.store,
		Processor: HandlerFunc(func(ctx context.Context, ev *Event) error {
			f.processed.Add(1)
			if f.process != nil {
				return f.process(ctx, ev)
			}
			return nil
		}),
		Logger:       slog.New(slog.NewJSONHandler(&lockedWriter{w: f.logs}, nil)),
		MaxBodyBytes: 4096,
		StoreTimeout: 200 * time.Millisecond,
		Clock:        func() time.Time { return f.now },
	}
	if mod != nil {
		mod(&o)
	}
	f.h, err = NewReceiver(o)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// signed builds a POST signed with sigtest.SecretA at the fixture's clock.
func (f *fixture) signed(t testing.TB, id string, body string) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(delivery.HeaderID, id)
	r.Header.Set(delivery.HeaderTimestamp, strconv.FormatInt(f.now.Unix(), 10))
	r.Header.Set(delivery.HeaderSignature, sigtest.Sign(t, sigtest.SecretA, id, f.now, []byte(body)))
	return r
}

func (f *fixture) do(r *http.Request) (*httptest.ResponseRecorder, map[string]any) {
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	var body map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	return w, body
}

// lastLog returns the last "delivery" log line.
func (f *fixture) lastLog(t testing.TB) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(f.logs.String()), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		var m map[string]any
		if json.Unmarshal([]byte(lines[i]), &m) == nil && m["msg"] == "delivery" {
			return m
		}
	}
	t.Fatalf("no delivery log line in %q", f.logs.String())
	return nil
}

const okBody = `{"type":"batch.succeeded","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"batches/123","output_file_uri":"files/out-123"}}`

// failingStore is a store whose calls fail or hang, standing in for an
// unreachable backend (the Firestore adapter's tests use the real emulator).
type failingStore struct {
	*MemoryStore
	claimErr    error
	hang        bool
	completeErr error
}

func (s *failingStore) Claim(ctx context.Context, c Claim) (ClaimResult, error) {
	if s.hang {
		<-ctx.Done()
		return 0, ctx.Err()
	}
	if s.claimErr != nil {
		return 0, s.claimErr
	}
	return s.MemoryStore.Claim(ctx, c)
}

func (s *failingStore) Complete(ctx context.Context, c Claim, keep time.Time) error {
	if s.completeErr != nil {
		return s.completeErr
	}
	return s.MemoryStore.Complete(ctx, c, keep)
}

type queueFunc func(ctx context.Context, ev *Event) error

func (q queueFunc) Enqueue(ctx context.Context, ev *Event) error { return q(ctx, ev) }

// TestHTTPContract covers every row of the HTTP contract (doc.go).
func TestHTTPContract(t *testing.T) {
	tests := []struct {
		name        string
		opts        func(*ReceiverOptions)
		setup       func(t *testing.T, f *fixture)
		req         func(t *testing.T, f *fixture) *http.Request
		status      int
		outcome     Outcome
		processed   int64
		reasonHas   string
		afterChecks func(t *testing.T, f *fixture)
	}{
		{
			name:   "verified, processed now",
			req:    func(t *testing.T, f *fixture) *http.Request { return f.signed(t, "msg_ok", okBody) },
			status: 200, outcome: OutcomeProcessed, processed: 1,
			afterChecks: func(t *testing.T, f *fixture) {
				rec, ok := f.store.Get("msg_ok")
				if !ok || rec.State != StateCompleted || !rec.ExpireAt.Equal(f.now.Add(DefaultTTL)) {
					t.Fatalf("record = %+v, %v; want completed until now+TTL", rec, ok)
				}
			},
		},
		{
			name: "verified, queued durably",
			opts: func(o *ReceiverOptions) {
				o.Queue = queueFunc(func(ctx context.Context, ev *Event) error { return nil })
			},
			req:    func(t *testing.T, f *fixture) *http.Request { return f.signed(t, "msg_q", okBody) },
			status: 202, outcome: OutcomeQueued, processed: 0,
		},
		{
			name: "verified duplicate of a finished delivery",
			setup: func(t *testing.T, f *fixture) {
				if w, _ := f.do(f.signed(t, "msg_dup", okBody)); w.Code != 200 {
					t.Fatalf("first delivery: %d", w.Code)
				}
			},
			req:    func(t *testing.T, f *fixture) *http.Request { return f.signed(t, "msg_dup", okBody) },
			status: 200, outcome: OutcomeDuplicate, processed: 1,
		},
		{
			name: "verified but bad JSON: dead letter",
			req: func(t *testing.T, f *fixture) *http.Request {
				return f.signed(t, "msg_bad", `{"type": "batch.succeeded",`)
			},
			status: 200, outcome: OutcomeDeadLetter, processed: 0, reasonHas: "invalid json",
			afterChecks: func(t *testing.T, f *fixture) {
				dl, _ := f.store.ListDeadLetters(context.Background(), 0)
				if len(dl) != 1 || dl[0].Key != "msg_bad" || string(dl[0].Body) != `{"type": "batch.succeeded",` {
					t.Fatalf("dead letters = %+v", dl)
				}
				// A redelivery of the dead letter is a duplicate, not a second dead letter.
				if w, b := f.do(f.signed(t, "msg_bad", `{"type": "batch.succeeded",`)); w.Code != 200 || b["outcome"] != "duplicate" {
					t.Fatalf("redelivery: %d %v", w.Code, b)
				}
			},
		},
		{
			name: "verified but unknown version: dead letter",
			req: func(t *testing.T, f *fixture) *http.Request {
				return f.signed(t, "msg_v9", `{"type":"batch.succeeded","version":"v9","data":{}}`)
			},
			status: 200, outcome: OutcomeDeadLetter, processed: 0, reasonHas: "version",
		},
		{
			name: "unknown event type accepted (forward compatible)",
			req: func(t *testing.T, f *fixture) *http.Request {
				return f.signed(t, "msg_new", `{"type":"model.tuned","version":"v1","data":{"id":"x"}}`)
			},
			status: 200, outcome: OutcomeProcessed, processed: 1,
		},
		{
			name: "missing webhook headers",
			req: func(t *testing.T, f *fixture) *http.Request {
				r := f.signed(t, "msg_m", okBody)
				r.Header.Del(delivery.HeaderTimestamp)
				return r
			},
			status: 400, outcome: OutcomeRejected, reasonHas: "missing",
		},
		{
			name: "no signature header at all",
			req: func(t *testing.T, f *fixture) *http.Request {
				r := f.signed(t, "msg_m", okBody)
				r.Header.Del(delivery.HeaderSignature)
				return r
			},
			status: 400, outcome: OutcomeRejected, reasonHas: "missing",
		},
		{
			name: "malformed webhook headers",
			req: func(t *testing.T, f *fixture) *http.Request {
				r := f.signed(t, "msg_m", okBody)
				r.Header.Set(delivery.HeaderSignature, "not-a-signature")
				return r
			},
			status: 400, outcome: OutcomeRejected, reasonHas: "malformed",
		},
		{
			name: "bad signature",
			req: func(t *testing.T, f *fixture) *http.Request {
				r := f.signed(t, "msg_s", okBody)
				r.Body = io.NopCloser(strings.NewReader(strings.Replace(okBody, "123", "124", 1)))
				return r
			},
			status: 401, outcome: OutcomeRejected, reasonHas: "signature",
		},
		{
			name: "bad token (dynamic scheme not configured)",
			req: func(t *testing.T, f *fixture) *http.Request {
				r := f.signed(t, "msg_t", okBody)
				r.Header.Set(delivery.HeaderSignature, "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4In0.c2ln")
				return r
			},
			status: 401, outcome: OutcomeRejected, reasonHas: "not configured",
		},
		{
			name: "timestamp outside the window",
			req: func(t *testing.T, f *fixture) *http.Request {
				r := f.signed(t, "msg_old", okBody)
				f.now = f.now.Add(6 * time.Minute)
				return r
			},
			status: 401, outcome: OutcomeRejected, reasonHas: "window",
		},
		{
			name: "method other than POST",
			req: func(t *testing.T, f *fixture) *http.Request {
				return httptest.NewRequest(http.MethodGet, "/", nil)
			},
			status: 405, outcome: OutcomeRejected,
			afterChecks: func(t *testing.T, f *fixture) {
				w, _ := f.do(httptest.NewRequest(http.MethodPut, "/", nil))
				if w.Header().Get("Allow") != http.MethodPost {
					t.Fatalf("Allow = %q", w.Header().Get("Allow"))
				}
			},
		},
		{
			name: "body over the cap (Content-Length)",
			req: func(t *testing.T, f *fixture) *http.Request {
				return f.signed(t, "msg_big", `{"x":"`+strings.Repeat("a", 5000)+`"}`)
			},
			status: 413, outcome: OutcomeRejected,
		},
		{
			name: "body over the cap (no Content-Length)",
			req: func(t *testing.T, f *fixture) *http.Request {
				r := f.signed(t, "msg_big", `{"x":"`+strings.Repeat("a", 5000)+`"}`)
				r.ContentLength = -1
				return r
			},
			status: 413, outcome: OutcomeRejected,
		},
		{
			name: "same id still in progress elsewhere",
			setup: func(t *testing.T, f *fixture) {
				_, err := f.store.Claim(context.Background(), Claim{Key: "msg_busy", Owner: "other", BodyHash: HashBody([]byte(okBody)), Now: f.now, LeaseUntil: f.now.Add(time.Minute)})
				if err != nil {
					t.Fatal(err)
				}
			},
			req:    func(t *testing.T, f *fixture) *http.Request { return f.signed(t, "msg_busy", okBody) },
			status: 409, outcome: OutcomeInProgress, processed: 0,
		},
		{
			name: "in progress elsewhere, lease run out: taken over",
			setup: func(t *testing.T, f *fixture) {
				_, err := f.store.Claim(context.Background(), Claim{Key: "msg_crash", Owner: "crashed", BodyHash: HashBody([]byte(okBody)), Now: f.now.Add(-2 * time.Minute), LeaseUntil: f.now.Add(-time.Minute)})
				if err != nil {
					t.Fatal(err)
				}
			},
			req:    func(t *testing.T, f *fixture) *http.Request { return f.signed(t, "msg_crash", okBody) },
			status: 200, outcome: OutcomeProcessed, processed: 1,
		},
		{
			name: "same id with a different body",
			setup: func(t *testing.T, f *fixture) {
				f.do(f.signed(t, "msg_c", okBody))
			},
			req: func(t *testing.T, f *fixture) *http.Request {
				return f.signed(t, "msg_c", strings.Replace(okBody, "123", "999", -1))
			},
			status: 409, outcome: OutcomeConflict, processed: 1,
		},
		{
			name: "handler failed: claim released, retry processes",
			setup: func(t *testing.T, f *fixture) {
				f.process = func(context.Context, *Event) error { return errors.New("boom") }
			},
			req:    func(t *testing.T, f *fixture) *http.Request { return f.signed(t, "msg_f", okBody) },
			status: 500, outcome: OutcomeFailed, processed: 1, reasonHas: "handler failed",
			afterChecks: func(t *testing.T, f *fixture) {
				if _, ok := f.store.Get("msg_f"); ok {
					t.Fatal("claim not released")
				}
				f.process = nil
				if w, b := f.do(f.signed(t, "msg_f", okBody)); w.Code != 200 || b["outcome"] != "processed" {
					t.Fatalf("retry: %d %v", w.Code, b)
				}
			},
		},
		{
			name: "handler panicked: claim released",
			setup: func(t *testing.T, f *fixture) {
				f.process = NewMux().On(BatchSucceeded, func(context.Context, *Event) error { panic("oops") }).Process
			},
			req:    func(t *testing.T, f *fixture) *http.Request { return f.signed(t, "msg_p", okBody) },
			status: 500, outcome: OutcomeFailed, processed: 1,
			afterChecks: func(t *testing.T, f *fixture) {
				if _, ok := f.store.Get("msg_p"); ok {
					t.Fatal("claim not released after panic")
				}
				if !strings.Contains(f.logs.String(), "panicked") {
					t.Fatal("panic not logged")
				}
			},
		},
		{
			name: "store unreachable",
			opts: func(o *ReceiverOptions) {
				o.Store = &failingStore{MemoryStore: o.Store.(*MemoryStore), claimErr: errors.New("connection refused")}
			},
			req:    func(t *testing.T, f *fixture) *http.Request { return f.signed(t, "msg_down", okBody) },
			status: 503, outcome: OutcomeFailed, processed: 0,
		},
		{
			name: "store hangs: answered 503 at the store deadline",
			opts: func(o *ReceiverOptions) {
				o.Store = &failingStore{MemoryStore: o.Store.(*MemoryStore), hang: true}
			},
			req:    func(t *testing.T, f *fixture) *http.Request { return f.signed(t, "msg_hang", okBody) },
			status: 503, outcome: OutcomeFailed, processed: 0,
		},
		{
			name: "store full",
			opts: func(o *ReceiverOptions) {
				o.Store = NewMemoryStore(1)
			},
			setup: func(t *testing.T, f *fixture) {
				if w, _ := f.do(f.signed(t, "msg_first", okBody)); w.Code != 200 {
					t.Fatal("first delivery failed")
				}
			},
			req:    func(t *testing.T, f *fixture) *http.Request { return f.signed(t, "msg_second", okBody) },
			status: 503, outcome: OutcomeFailed, processed: 1,
		},
		{
			name: "queue unreachable: claim released",
			opts: func(o *ReceiverOptions) {
				o.Queue = queueFunc(func(ctx context.Context, ev *Event) error { return errors.New("topic not found") })
			},
			req:    func(t *testing.T, f *fixture) *http.Request { return f.signed(t, "msg_qd", okBody) },
			status: 503, outcome: OutcomeFailed,
			afterChecks: func(t *testing.T, f *fixture) {
				if _, ok := f.store.Get("msg_qd"); ok {
					t.Fatal("claim not released after enqueue failure")
				}
			},
		},
		{
			name: "complete fails after processing: still 2xx (no double processing)",
			opts: func(o *ReceiverOptions) {
				o.Store = &failingStore{MemoryStore: o.Store.(*MemoryStore), completeErr: errors.New("deadline exceeded")}
			},
			req:    func(t *testing.T, f *fixture) *http.Request { return f.signed(t, "msg_cf", okBody) },
			status: 200, outcome: OutcomeProcessed, processed: 1,
			afterChecks: func(t *testing.T, f *fixture) {
				if line := f.lastLog(t); !strings.Contains(fmt.Sprint(line["store_error"]), "deadline exceeded") {
					t.Fatalf("store error not on the delivery line: %v", line)
				}
				if n := strings.Count(strings.TrimSpace(f.logs.String()), "\n") + 1; n != 1 {
					t.Fatalf("%d log lines for one delivery", n)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.opts)
			if tc.setup != nil {
				tc.setup(t, f)
			}
			w, body := f.do(tc.req(t, f))
			if w.Code != tc.status {
				t.Fatalf("status = %d, want %d (body %s)", w.Code, tc.status, w.Body)
			}
			if body["outcome"] != string(tc.outcome) {
				t.Fatalf("outcome = %v, want %s", body["outcome"], tc.outcome)
			}
			if got := f.processed.Load(); got != tc.processed {
				t.Fatalf("processed %d times, want %d", got, tc.processed)
			}
			line := f.lastLog(t)
			for _, k := range []string{"webhook_id", "event_type", "scheme", "outcome", "status", "latency_ms"} {
				if _, ok := line[k]; !ok {
					t.Fatalf("log line lacks %q: %v", k, line)
				}
			}
			if line["outcome"] != string(tc.outcome) || int(line["status"].(float64)) != tc.status {
				t.Fatalf("log line = %v", line)
			}
			if tc.reasonHas != "" && !strings.Contains(strings.ToLower(line["reason"].(string)), tc.reasonHas) {
				t.Fatalf("reason = %q, want it to mention %q", line["reason"], tc.reasonHas)
			}
			if tc.outcome == OutcomeRejected && line["reason"] == "" {
				t.Fatal("rejection logged without reason")
			}
			if strings.Contains(f.logs.String(), strings.TrimPrefix(sigtest.SecretA, "whsec_")) {
				t.Fatal("secret in logs")
			}
			if tc.afterChecks != nil {
				tc.afterChecks(t, f)
			}
		})
	}
}

// The lease ends with the request's deadline, and processing cannot outlive it.
func TestLeaseFollowsRequestDeadline(t *testing.T) {
	f := newFixture(t, nil)
	var gotDeadline time.Time
	f.process = func(ctx context.Context, ev *Event) error {
		gotDeadline, _ = ctx.Deadline()
		rec, _ := f.store.Get(ev.Delivery.ID)
		if rec.State != StateInProgress || !rec.LeaseUntil.Equal(gotDeadline) {
			t.Errorf("record %+v while processing, ctx deadline %s", rec, gotDeadline)
		}
		return nil
	}
	deadline := time.Now().Add(5 * time.Minute) // beyond the 60 s default lease
	f.now = time.Now()
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	r := f.signed(t, "msg_lease", okBody).WithContext(ctx)
	if w, _ := f.do(r); w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	if !gotDeadline.Equal(deadline) {
		t.Fatalf("processing deadline %s, want the request's %s", gotDeadline, deadline)
	}
}

// Concurrent copies of one delivery: exactly one is processed, the others
// are answered 409 (in progress) or 200 (duplicate), never processed twice.
func TestConcurrentDuplicates(t *testing.T) {
	f := newFixture(t, nil)
	release := make(chan struct{})
	f.process = func(context.Context, *Event) error { <-release; return nil }
	var wg sync.WaitGroup
	codes := make(chan int, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, _ := f.do(f.signed(t, "msg_race", okBody))
			codes <- w.Code
		}()
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if f.processed.Load() != 1 || count[200] < 1 || count[200]+count[409] != 50 {
		t.Fatalf("processed %d, statuses %v", f.processed.Load(), count)
	}
}

func TestNewHandlerRequires(t *testing.T) {
	if _, err := NewReceiver(ReceiverOptions{}); err == nil {
		t.Fatal("empty options accepted")
	}
	sv, _ := signature.NewStaticVerifier([]string{sigtest.SecretA}, 0)
	if _, err := NewReceiver(ReceiverOptions{Verifier: sv, Store: NewMemoryStore(0)}); err == nil {
		t.Fatal("handler without processor or queue accepted")
	}
}
