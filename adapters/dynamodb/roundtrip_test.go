package dynamodb

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/webhooktest"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

// testSecret signs the tests' deliveries as Gemini would.
const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// counter is a mux that counts how often each delivery was processed.
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

func newClock(t time.Time) *clock    { c := &clock{}; c.ns.Store(t.UnixNano()); return c }
func (c *clock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *clock) add(d time.Duration) { c.ns.Add(int64(d)) }
func discard() *slog.Logger          { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }
func eventBody(id string) []byte     { return eventBodyAt(id, eventTime) }
func eventBodyAt(id string, t time.Time) []byte {
	return fmt.Appendf(nil, `{"type":"batch.succeeded","version":"v1","timestamp":%q,"data":{"id":"batches/%s","output_file_uri":"files/%s"}}`, t.UTC().Format(time.RFC3339Nano), id, id)
}

// eventTime is the timestamp of eventBody's events.
var eventTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newHandler(t testing.TB, o core.ReceiverOptions) *core.Receiver {
	t.Helper()
	v, err := core.NewStaticVerifier([]string{testSecret}, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	o.Verifier, o.Logger = v, discard()
	h, err := core.NewReceiver(o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// signed is a delivery signed at ts as Gemini signs it.
func signed(t testing.TB, id string, ts time.Time, body []byte) core.Request {
	t.Helper()
	h, err := webhooktest.SignStatic(testSecret, id, ts, body)
	if err != nil {
		t.Fatal(err)
	}
	return core.Request{Method: http.MethodPost, Header: h, Body: bytes.NewReader(body), ContentLength: int64(len(body))}
}

// The requests each kind of delivery costs, counted on the wire (every
// HTTP attempt) through the receiver, on instances A, B and C sharing the
// table; C remembers nothing (Hints off). These are the package
// documentation's figures; Firestore's for the same steps are in its
// TestRoundTrips.
func TestRoundTrips(t *testing.T) {
	table := newTable(t)
	var rc reqCounter
	clk := newClock(eventTime)
	var cnt counter
	handler := func(s *Store) *core.Receiver {
		return newHandler(t, core.ReceiverOptions{Store: s, Processor: cnt.router(), Clock: clk.now})
	}
	noHints, err := New(context.Background(), Config{Table: table, Client: newClient(&rc), Hints: -1})
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := handler(open(t, table, &rc)), handler(open(t, table, &rc)), handler(noHints)
	ctx := context.Background()
	failing := newHandler(t, core.ReceiverOptions{Store: open(t, table, &rc), Clock: clk.now,
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
	if got, err := open(t, table, nil).Claim(ctx, core.Claim{Key: "msg_stuck", Owner: "crashed", BodyHash: core.HashBody(eventBody("msg_stuck")), Now: clk.now(), LeaseUntil: clk.now().Add(time.Minute)}); err != nil || got != core.Claimed {
		t.Fatal(got, err)
	}
	rc.take()
	for _, st := range steps {
		clk.add(st.advance)
		r := st.h.Handle(ctx, signed(t, st.id, clk.now(), eventBody(st.id)))
		n, by := rc.take()
		t.Logf("%s: %s", st.name, by)
		if r.Outcome != st.outcome || n != st.reqs {
			t.Errorf("%s: %d %s after %d requests (%s), want %s after %d", st.name, r.Status, r.Outcome, n, by, st.outcome, st.reqs)
		}
	}
	if cnt.get("msg_a") != 1 || cnt.get("msg_stuck") != 1 {
		t.Errorf("processed %v", cnt.n)
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
		return newHandler(t, core.ReceiverOptions{Store: s, Processor: core.NewMux().With(actions.Middleware)})
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
	}
	rc.take()
	for _, st := range steps {
		r := st.h.Handle(ctx, signed(t, st.id, time.Now(), st.body))
		n, by := rc.take()
		t.Logf("%s: %s", st.name, by)
		if r.Status/100 != 2 || n != st.reqs {
			t.Errorf("%s: %d %s after %d requests (%s), want 2xx after %d", st.name, r.Status, r.Outcome, n, by, st.reqs)
		}
	}
	j, err := open(t, table, nil).Ledger().GetJob(ctx, "interactions/i1")
	if err != nil || j == nil || j.State != jobs.JobSucceeded || len(j.Deliveries) != 3 {
		t.Fatalf("job %+v, %v; want succeeded (the completion wins over the later failure) with 3 deliveries", j, err)
	}
}

// A verified body that is not a v1 envelope is kept once and answered 200;
// its redelivery is a duplicate.
func TestHandlerDeadLetter(t *testing.T) {
	s := open(t, newTable(t), nil)
	var cnt counter
	h := newHandler(t, core.ReceiverOptions{Store: s, DeadLetters: s, Processor: cnt.router()})
	ctx := context.Background()
	body := []byte(`{"type":"batch.succeeded","version":"v7","data":{}}`)
	if r := h.Handle(ctx, signed(t, "msg_dl", time.Now(), body)); r.Status != http.StatusOK || r.Outcome != core.OutcomeDeadLetter {
		t.Fatalf("first: %d %s", r.Status, r.Outcome)
	}
	if r := h.Handle(ctx, signed(t, "msg_dl", time.Now(), body)); r.Status != http.StatusOK || r.Outcome != core.OutcomeDuplicate {
		t.Fatalf("again: %d %s", r.Status, r.Outcome)
	}
	got, err := s.ListDeadLetters(ctx, 0)
	if err != nil || len(got) != 1 || got[0].Key != "msg_dl" || !bytes.Equal(got[0].Body, body) || cnt.get("msg_dl") != 0 {
		t.Fatalf("dead letters %+v %v", got, err)
	}
}
