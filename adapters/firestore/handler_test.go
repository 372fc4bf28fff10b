package firestore

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/storetest"
)

// The receiver around a store, shared with the other stores' tests.
type counter = storetest.Counter

var (
	newClock   = storetest.NewClock
	newHandler = storetest.NewReceiver
	signed     = storetest.Signed
)

// eventTime is the timestamp of eventBody's events.
var eventTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func eventBody(id string) []byte { return storetest.EventBody(id, eventTime) }

// eventBodyAt is eventBody's event as it happened at t.
var eventBodyAt = storetest.EventBody

// An owner that never completes (a crash): a delivery before its lease
// ends is answered 409 and not processed; the first one after is processed;
// the crashed owner can no longer complete.
func TestHandlerCrashedOwner(t *testing.T) {
	s := open(t, newConfig(t))
	clk := newClock(time.Now())
	var cnt counter
	h := newHandler(t, core.ReceiverOptions{Store: s, Processor: cnt.Mux(), Lease: time.Minute, Clock: clk.Now})
	ctx := context.Background()
	id, body := "msg_crash", eventBody("crash")

	crashed := core.Claim{Key: id, Owner: "crashed", BodyHash: core.HashBody(body), Now: clk.Now(), LeaseUntil: clk.Now().Add(time.Minute)}
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
		clk.Add(st.advance)
		resp := h.Handle(ctx, signed(t, id, clk.Now(), body))
		if resp.Status != st.status || resp.Outcome != st.outcome || cnt.Get(id) != st.count {
			t.Fatalf("delivery %d: %d %s (count %d), want %d %s (count %d)", i, resp.Status, resp.Outcome, cnt.Get(id), st.status, st.outcome, st.count)
		}
	}
	if err := s.Complete(ctx, crashed, clk.Now().Add(time.Hour)); !errors.Is(err, core.ErrNotOwner) {
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
	h := newHandler(t, core.ReceiverOptions{Store: s, Processor: cnt.Mux()})
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
	other := newHandler(t, core.ReceiverOptions{Store: open(t, cfg), Processor: cnt.Mux()})
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
	if cnt.Get("msg_done") != 1 || cnt.Get("msg_busy") != 0 {
		t.Fatalf("processed %v", &cnt)
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
	storetest.RunOutage(t, open(t, cfg), emulator.Pause, emulator.Resume)
}
