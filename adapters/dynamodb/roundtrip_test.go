package dynamodb

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
	"github.com/geminiwebhooks/receiver/core/storetest"
)

// eventTime is the timestamp of eventBody's events.
var eventTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func eventBody(id string) []byte { return storetest.EventBody(id, eventTime) }

func discard() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }

// The requests each kind of delivery costs, counted on the wire (every
// HTTP attempt) through the receiver, on instances A, B and C sharing the
// table; C remembers nothing (Hints off). These are the package
// documentation's figures; Firestore's for the same steps are in its
// TestRoundTrips.
func TestRoundTrips(t *testing.T) {
	table := newTable(t)
	var rc reqCounter
	clk := storetest.NewClock(eventTime)
	var cnt storetest.Counter
	handler := func(s *Store) *core.Receiver {
		return storetest.NewReceiver(t, core.ReceiverOptions{Store: s, Processor: cnt.Mux(), Clock: clk.Now})
	}
	noHints, err := New(context.Background(), Config{Table: table, Client: newClient(&rc), Hints: -1})
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := handler(open(t, table, &rc)), handler(open(t, table, &rc)), handler(noHints)
	ctx := context.Background()
	failing := storetest.NewReceiver(t, core.ReceiverOptions{Store: open(t, table, &rc), Clock: clk.Now,
		Processor: core.NewMux().Default(func(context.Context, *core.Event) error { return fmt.Errorf("handler fails") })})

	steps := []struct {
		name    string
		h       *core.Receiver
		id      string
		advance time.Duration
		outcome core.Outcome
		reqs    int
	}{
		{"new delivery at A: PutItem, UpdateItem", a, "msg_a", 0, core.OutcomeProcessed, 2},
		{"duplicate at A, which completed it: none", a, "msg_a", 0, core.OutcomeDuplicate, 0},
		{"duplicate at B, which never saw it: PutItem (fails, returns the record)", b, "msg_a", 0, core.OutcomeDuplicate, 1},
		{"duplicate at B again: none", b, "msg_a", 0, core.OutcomeDuplicate, 0},
		{"duplicate at C, without hints: PutItem", c, "msg_a", 0, core.OutcomeDuplicate, 1},
		{"duplicate at C again, without hints: PutItem", c, "msg_a", time.Second, core.OutcomeDuplicate, 1},
		{"in progress elsewhere, at B: PutItem", b, "msg_stuck", 0, core.OutcomeInProgress, 1},
		{"still in progress, at B: PutItem", b, "msg_stuck", time.Second, core.OutcomeInProgress, 1},
		{"lease over, at B: PutItem (takeover), UpdateItem (firstSeen), UpdateItem (complete)", b, "msg_stuck", 2 * time.Minute, core.OutcomeProcessed, 3},
		{"handler error: PutItem, DeleteItem (release)", failing, "msg_fail", 0, core.OutcomeFailed, 2},
	}
	if got, err := open(t, table, nil).Claim(ctx, core.Claim{Key: "msg_stuck", Owner: "crashed", BodyHash: core.HashBody(eventBody("msg_stuck")), Now: clk.Now(), LeaseUntil: clk.Now().Add(time.Minute)}); err != nil || got != core.Claimed {
		t.Fatal(got, err)
	}
	rc.take()
	for _, st := range steps {
		clk.Add(st.advance)
		r := st.h.Handle(ctx, storetest.Signed(t, st.id, clk.Now(), eventBody(st.id)))
		n, by := rc.take()
		t.Logf("%s: %s", st.name, by)
		if r.Outcome != st.outcome || n != st.reqs {
			t.Errorf("%s: %d %s after %d requests (%s), want %s after %d", st.name, r.Status, r.Outcome, n, by, st.outcome, st.reqs)
		}
	}
	// The same id with another body: one PutItem (fails, returns the
	// record) at C; none at A, which remembers the completed body's hash.
	for _, h := range []struct {
		name string
		h    *core.Receiver
		reqs int
	}{{"C", c, 1}, {"A", a, 0}} {
		r := h.h.Handle(ctx, storetest.Signed(t, "msg_a", clk.Now(), storetest.EventBody("msg_a", eventTime.Add(time.Second))))
		if n, by := rc.take(); r.Outcome != core.OutcomeConflict || n != h.reqs {
			t.Errorf("conflict at %s: %s after %d requests (%s), want conflict after %d", h.name, r.Outcome, n, by, h.reqs)
		}
	}
	if cnt.Get("msg_a") != 1 || cnt.Get("msg_stuck") != 1 {
		t.Errorf("processed %v", &cnt)
	}
}

// The requests of a new delivery with the job ledger included, as the
// receiver makes them behind the built-in actions (no Gemini API client:
// the event's word is recorded), and of later events of the same job.
func TestRoundTripsWithLedger(t *testing.T) {
	table := newTable(t)
	var rc reqCounter
	instance := func() *core.Receiver {
		s := open(t, table, &rc)
		actions, err := jobs.New(jobs.Config{Ledger: s.Ledger(), Logger: discard()})
		if err != nil {
			t.Fatal(err)
		}
		return storetest.NewReceiver(t, core.ReceiverOptions{Store: s, Processor: core.NewMux().With(actions.Middleware)})
	}
	h, other := instance(), instance()
	ctx := context.Background()
	at := time.Now() // a redelivery is the same body
	interaction := func(typ, job string) []byte {
		return fmt.Appendf(nil, `{"type":%q,"version":"v1","timestamp":%q,"data":{"id":"interactions/%s"}}`, typ, at.Format(time.RFC3339Nano), job)
	}
	steps := []struct {
		name string
		h    *core.Receiver
		id   string
		body []byte
		reqs int
	}{
		{"new delivery of a new job: PutItem (claim), PutItem (job), UpdateItem (complete)", h, "msg_r1", interaction(core.InteractionRequiresAction, "i1"), 3},
		{"new delivery of a job this instance knows: PutItem, PutItem (job), UpdateItem", h, "msg_r2", interaction(core.InteractionCompleted, "i1"), 3},
		{"duplicate at the same instance: none", h, "msg_r2", interaction(core.InteractionCompleted, "i1"), 0},
		{"new delivery of a job another instance wrote: PutItem, PutItem (fails, returns the job), PutItem, UpdateItem", other, "msg_r3", interaction(core.InteractionFailed, "i1"), 4},
		{"new delivery of a job changed since this instance wrote it: the same", h, "msg_r4", interaction(core.InteractionCancelled, "i1"), 4},
	}
	rc.take()
	for _, st := range steps {
		r := st.h.Handle(ctx, storetest.Signed(t, st.id, time.Now(), st.body))
		n, by := rc.take()
		t.Logf("%s: %s", st.name, by)
		if r.Status/100 != 2 || n != st.reqs {
			t.Errorf("%s: %d %s after %d requests (%s), want 2xx after %d", st.name, r.Status, r.Outcome, n, by, st.reqs)
		}
	}
	j, err := open(t, table, nil).Ledger().GetJob(ctx, "interactions/i1")
	if err != nil || j == nil || j.State != jobs.JobSucceeded || len(j.Deliveries) != 4 {
		t.Fatalf("job %+v, %v; want succeeded (the completion wins over the later failure) with 4 deliveries", j, err)
	}
}

// A verified body that is not a v1 envelope is kept once and answered 200;
// its redelivery is a duplicate.
func TestHandlerDeadLetter(t *testing.T) {
	s := open(t, newTable(t), nil)
	var cnt storetest.Counter
	h := storetest.NewReceiver(t, core.ReceiverOptions{Store: s, DeadLetters: s, Processor: cnt.Mux()})
	ctx := context.Background()
	body := []byte(`{"type":"batch.succeeded","version":"v7","data":{}}`)
	if r := h.Handle(ctx, storetest.Signed(t, "msg_dl", time.Now(), body)); r.Status != http.StatusOK || r.Outcome != core.OutcomeDeadLetter {
		t.Fatalf("first: %d %s", r.Status, r.Outcome)
	}
	if r := h.Handle(ctx, storetest.Signed(t, "msg_dl", time.Now(), body)); r.Status != http.StatusOK || r.Outcome != core.OutcomeDuplicate {
		t.Fatalf("again: %d %s", r.Status, r.Outcome)
	}
	got, err := s.ListDeadLetters(ctx, 0)
	if err != nil || len(got) != 1 || got[0].Key != "msg_dl" || !bytes.Equal(got[0].Body, body) || cnt.Get("msg_dl") != 0 {
		t.Fatalf("dead letters %+v %v", got, err)
	}
}

// moto_server frozen mid-stream (SIGSTOP): deliveries in the outage are
// answered 5xx and not processed; once it is back, retries of each are
// processed exactly once (storetest.RunOutage, as Firestore's emulator).
func TestHandlerOutage(t *testing.T) {
	s, err := New(context.Background(), Config{Table: newTable(t), Client: newClient(nil), CallTimeout: time.Second, Hints: -1})
	if err != nil {
		t.Fatal(err)
	}
	storetest.RunOutage(t, s, moto.Pause, moto.Resume)
}
