package firestore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/verify"
)

// testSecret signs the tests' deliveries as Gemini would.
const testSecret = "whsec_dGVzdC1maXJlc3RvcmUtc2VjcmV0LTAxMjM0NTY3ODk="

// counter is a Router that counts how often each delivery was processed.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) router() *core.Mux {
	return core.NewMux().Default(func(_ context.Context, ev *core.Event) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.n == nil {
			c.n = map[string]int{}
		}
		c.n[ev.Delivery.ID]++
		return nil
	})
}

func (c *counter) get(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[id]
}

type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock { c := &clock{}; c.ns.Store(t.UnixNano()); return c }
func (c *clock) now() time.Time   { return time.Unix(0, c.ns.Load()) }
func (c *clock) add(d time.Duration) {
	c.ns.Add(int64(d))
}

func newHandler(t testing.TB, o core.ReceiverOptions) *core.Receiver {
	t.Helper()
	v, err := verify.New(context.Background(), verify.Config{Secrets: []string{testSecret}, Tolerance: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	o.Verifier = v.Schemes()
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	h, err := core.NewReceiver(o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// eventTime is the timestamp of eventBody's events.
var eventTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func eventBody(id string) []byte { return eventBodyAt(id, eventTime) }

// eventBodyAt is eventBody's event as it happened at t.
func eventBodyAt(id string, t time.Time) []byte {
	return fmt.Appendf(nil, `{"type":"batch.succeeded","version":"v1","timestamp":%q,"data":{"id":"batches/%s","output_file_uri":"files/%s"}}`, t.UTC().Format(time.RFC3339Nano), id, id)
}

// signed is a delivery signed at ts with the Standard Webhooks library.
func signed(t testing.TB, id string, ts time.Time, body []byte) core.Request {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := wh.Sign(id, ts, body)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set("webhook-signature", sig)
	return core.Request{Method: http.MethodPost, Header: h, Body: bytes.NewReader(body), ContentLength: int64(len(body))}
}

// An owner that never completes (a crash): a delivery before its lease
// ends is answered 409 and not processed; the first one after is processed;
// the crashed owner can no longer complete.
func TestHandlerCrashedOwner(t *testing.T) {
	s := open(t, newConfig(t))
	clk := newClock(time.Now())
	var cnt counter
	h := newHandler(t, core.ReceiverOptions{Store: s, Processor: cnt.router(), Lease: time.Minute, Clock: clk.now})
	ctx := context.Background()
	id, body := "msg_crash", eventBody("crash")

	crashed := core.Claim{Key: id, Owner: "crashed", BodyHash: core.HashBody(body), Now: clk.now(), LeaseUntil: clk.now().Add(time.Minute)}
	if got, err := s.Claim(ctx, crashed); err != nil || got != core.Claimed {
		t.Fatal(got, err)
	}
	steps := []struct {
		advance time.Duration
		status  int
		outcome core.Outcome
		count   int
	}{
		{time.Second, http.StatusConflict, core.OutcomeInProgress, 0},
		{58 * time.Second, http.StatusConflict, core.OutcomeInProgress, 0}, // 59 s: lease still live
		{2 * time.Second, http.StatusOK, core.OutcomeProcessed, 1},         // 61 s: taken over
		{time.Second, http.StatusOK, core.OutcomeDuplicate, 1},
	}
	for i, st := range steps {
		clk.add(st.advance)
		resp := h.Handle(ctx, signed(t, id, clk.now(), body))
		if resp.Status != st.status || resp.Outcome != st.outcome || cnt.get(id) != st.count {
			t.Fatalf("delivery %d: %d %s (count %d), want %d %s (count %d)", i, resp.Status, resp.Outcome, cnt.get(id), st.status, st.outcome, st.count)
		}
	}
	if err := s.Complete(ctx, crashed, clk.now().Add(time.Hour)); !errors.Is(err, core.ErrNotOwner) {
		t.Fatalf("crashed owner's late complete = %v, want ErrNotOwner", err)
	}
	if rec, err := s.Get(ctx, id); err != nil || rec.State != core.StateCompleted || rec.Owner == "crashed" {
		t.Fatalf("record %+v %v", rec, err)
	}
}

// Same id, different body: 409 conflict, whether the first is in progress or done.
func TestHandlerConflict(t *testing.T) {
	cfg := newConfig(t)
	s := open(t, cfg)
	var cnt counter
	h := newHandler(t, core.ReceiverOptions{Store: s, Processor: cnt.router()})
	ctx := context.Background()
	now := time.Now()

	// In progress elsewhere.
	busy := eventBody("busy")
	if got, err := s.Claim(ctx, core.Claim{Key: "msg_busy", Owner: "other", BodyHash: core.HashBody(busy), Now: now, LeaseUntil: now.Add(time.Minute)}); err != nil || got != core.Claimed {
		t.Fatal(got, err)
	}
	if r := h.Handle(ctx, signed(t, "msg_busy", now, []byte(`{"type":"batch.failed","version":"v1","data":{"id":"x"}}`))); r.Status != http.StatusConflict || r.Outcome != core.OutcomeConflict {
		t.Fatalf("different body while in progress: %d %s", r.Status, r.Outcome)
	}

	// Completed here; a second instance (no shared cache) must agree.
	other := newHandler(t, core.ReceiverOptions{Store: open(t, cfg), Processor: cnt.router()})
	if r := h.Handle(ctx, signed(t, "msg_done", now, eventBody("done"))); r.Status != http.StatusOK || r.Outcome != core.OutcomeProcessed {
		t.Fatalf("first delivery: %d %s", r.Status, r.Outcome)
	}
	for name, hh := range map[string]*core.Receiver{"same instance": h, "other instance": other} {
		if r := hh.Handle(ctx, signed(t, "msg_done", now, eventBody("tampered"))); r.Status != http.StatusConflict || r.Outcome != core.OutcomeConflict {
			t.Fatalf("%s: different body after completion: %d %s", name, r.Status, r.Outcome)
		}
		if r := hh.Handle(ctx, signed(t, "msg_done", now, eventBody("done"))); r.Status != http.StatusOK || r.Outcome != core.OutcomeDuplicate {
			t.Fatalf("%s: same body after completion: %d %s", name, r.Status, r.Outcome)
		}
	}
	if cnt.get("msg_done") != 1 || cnt.get("msg_busy") != 0 {
		t.Fatalf("processed %v", cnt.n)
	}
}

// The emulator frozen mid-stream (SIGSTOP: connections hang, as in a real
// outage): every delivery in the outage is answered 5xx, none 2xx, and none
// is processed. Once it is back, Gemini-like retries of each are processed
// exactly once, including ones whose claim write reached the emulator after
// the handler had given up (they wait out their lease, then are taken over).
func TestHandlerFirestoreOutage(t *testing.T) {
	cfg := newConfig(t)
	cfg.CallTimeout = time.Second
	cfg.Hints = -1 // duplicates must ask Firestore too
	s := open(t, cfg)
	var cnt counter
	h := newHandler(t, core.ReceiverOptions{Store: s, Processor: cnt.router(), StoreTimeout: time.Second, Lease: 3 * time.Second})
	ctx := context.Background()

	before := make([]string, 5)
	for i := range before {
		before[i] = fmt.Sprintf("msg_before_%d", i)
		deliverUntil2xx(t, h, before[i], time.Now().Add(30*time.Second), nil)
	}

	if err := emulator.Pause(); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			if err := emulator.Resume(); err != nil {
				t.Error(err)
			}
		}
	}
	defer resume()

	during := make([]string, 20)
	for i := range during {
		during[i] = fmt.Sprintf("msg_during_%d", i)
	}
	ids := append(append([]string{}, during...), before...) // new ones and duplicates
	statuses := make([]int, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = h.Handle(ctx, signed(t, id, time.Now(), eventBody(id))).Status
		}()
	}
	wg.Wait()
	for i, st := range statuses {
		if st < 500 {
			t.Errorf("%s during the outage: %d, want 5xx", ids[i], st)
		}
	}
	for _, id := range during {
		if cnt.get(id) != 0 {
			t.Errorf("%s processed during the outage", id)
		}
	}
	resume()

	// Gemini retries non-2xx; 409 while a stranded claim's lease runs.
	deadline := time.Now().Add(30 * time.Second)
	retried := map[int]int{}
	for _, id := range ids {
		deliverUntil2xx(t, h, id, deadline, retried)
	}
	t.Logf("answers after the outage, by status: %v", retried)
	for _, id := range ids {
		if n := cnt.get(id); n != 1 {
			t.Errorf("%s processed %d times, want 1", id, n)
		}
	}
}

// deliverUntil2xx retries like Gemini: non-2xx answers that invite a retry
// (409, 5xx) are retried until 2xx or the deadline. statuses counts answers.
func deliverUntil2xx(t testing.TB, h *core.Receiver, id string, deadline time.Time, statuses map[int]int) {
	t.Helper()
	for {
		r := h.Handle(context.Background(), signed(t, id, time.Now(), eventBody(id)))
		if statuses != nil {
			statuses[r.Status]++
		}
		if r.Status/100 == 2 {
			return
		}
		if r.Status != http.StatusConflict && r.Status < 500 || time.Now().After(deadline) {
			t.Fatalf("%s: %d %s %s", id, r.Status, r.Outcome, r.Reason)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
