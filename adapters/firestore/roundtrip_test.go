package firestore

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
	"github.com/geminiwebhooks/receiver/core/storetest"
)

// rpcCounter counts the gRPC calls a Firestore client makes, by method.
type rpcCounter struct{ storetest.Calls }

func (r *rpcCounter) add(method string) { r.Add(method[strings.LastIndex(method, "/")+1:]) }

// take returns the calls since the last take.
func (r *rpcCounter) take() (total int, byMethod string) { return r.Take() }

// ownerCreds is what the client itself sends the emulator: "Bearer owner"
// bypasses security rules.
type ownerCreds struct{}

func (ownerCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer owner"}, nil
}
func (ownerCreds) RequireTransportSecurity() bool { return false }

// countingOption connects to the emulator through interceptors that count
// every unary call and every stream (BatchGetDocuments is a stream). With
// FIRESTORE_EMULATOR_HOST set the client dials its own connection and
// ignores option.WithGRPCDialOption, so the counted connection is passed
// whole with option.WithGRPCConn, which takes precedence.
func countingOption(t testing.TB, rc *rpcCounter) option.ClientOption {
	t.Helper()
	conn, err := grpc.NewClient(emulator.Host,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(ownerCreds{}),
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			rc.add(method)
			return invoker(ctx, method, req, reply, cc, opts...)
		}),
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			rc.add(method)
			return streamer(ctx, desc, cc, method, opts...)
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return option.WithGRPCConn(conn)
}

// The round trips core promises (a new delivery at most two, a duplicate at
// most one), counted on the wire through the handler,
// on two instances A and B sharing the records.
func TestRoundTrips(t *testing.T) {
	cfg := newConfig(t)
	var rc rpcCounter
	cfg.ClientOptions = []option.ClientOption{countingOption(t, &rc)}
	noHints := cfg
	noHints.Hints = -1
	clk := newClock(eventTime) // the first attempts come as the events happen
	var cnt counter
	handler := func(s *Store) *core.Receiver {
		return newHandler(t, core.ReceiverOptions{Store: s, Processor: cnt.Mux(), Clock: clk.Now})
	}
	a, b, c, d := handler(open(t, cfg)), handler(open(t, cfg)), handler(open(t, noHints)), handler(open(t, cfg))
	ctx := context.Background()

	steps := []struct {
		name    string
		h       *core.Receiver
		id      string
		advance time.Duration
		outcome core.Outcome
		rpcs    int
	}{
		{"new delivery at A: Create, Update", a, "msg_a", 0, core.OutcomeProcessed, 2},
		{"duplicate at A, which completed it: none", a, "msg_a", 0, core.OutcomeDuplicate, 0},
		{"duplicate at B: Create, Get", b, "msg_a", 0, core.OutcomeDuplicate, 2},
		{"duplicate at B again: none", b, "msg_a", 0, core.OutcomeDuplicate, 0},
		{"duplicate at C, without hints: Create, Get", c, "msg_a", 0, core.OutcomeDuplicate, 2},
		{"in progress elsewhere, at B: Create, Get", b, "msg_stuck", 0, core.OutcomeInProgress, 2},
		{"still in progress, at B: Get", b, "msg_stuck", time.Second, core.OutcomeInProgress, 1},
		{"lease over, at B: Get, Update (takeover), Update (complete)", b, "msg_stuck", 2 * time.Minute, core.OutcomeProcessed, 3},
		{"lease over, at C, 2 min after the event: Get, Update (takeover), Update (complete)", c, "msg_stuck2", 0, core.OutcomeProcessed, 3},
		{"a retry at D, which never saw it, 2 min after the event: Get", d, "msg_a", 0, core.OutcomeDuplicate, 1},
		{"a first delivery at D 2 min after its event: Get, Create, Update", d, "msg_late", 0, core.OutcomeProcessed, 3},
	}
	for _, id := range []string{"msg_stuck", "msg_stuck2"} {
		if got, err := open(t, cfg).Claim(ctx, core.Claim{Key: id, Owner: "crashed", BodyHash: core.HashBody(eventBody(id)), Now: clk.Now(), LeaseUntil: clk.Now().Add(time.Minute)}); err != nil || got != core.Claimed {
			t.Fatal(got, err)
		}
	}
	rc.take()
	for _, st := range steps {
		clk.Add(st.advance)
		r := st.h.Handle(ctx, signed(t, st.id, clk.Now(), eventBody(st.id)))
		n, by := rc.take()
		t.Logf("%s: %s", st.name, by)
		if r.Outcome != st.outcome || n != st.rpcs {
			t.Errorf("%s: %d %s after %d round trips (%s), want %s after %d", st.name, r.Status, r.Outcome, n, by, st.outcome, st.rpcs)
		}
	}
	if cnt.Get("msg_a") != 1 || cnt.Get("msg_stuck") != 1 || cnt.Get("msg_stuck2") != 1 || cnt.Get("msg_late") != 1 {
		t.Errorf("processed %v", &cnt)
	}
}

// The round trips of a new delivery with the job ledger included, as the
// receiver makes them behind the built-in actions (no Gemini API client:
// the event's word is recorded), and of later events of the same job.
func TestRoundTripsWithLedger(t *testing.T) {
	cfg := newConfig(t)
	var rc rpcCounter
	cfg.ClientOptions = []option.ClientOption{countingOption(t, &rc)}
	s := open(t, cfg)
	l, err := NewLedger(context.Background(), LedgerConfig{Client: s.FirestoreClient()})
	if err != nil {
		t.Fatal(err)
	}
	actions, err := jobs.New(jobs.Config{Ledger: l, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	clk := newClock(time.Now()) // real time: processing runs until the lease ends
	h := newHandler(t, core.ReceiverOptions{Store: s, Processor: core.NewMux().With(actions.Middleware), Clock: clk.Now})
	// Another instance: its own client, store, ledger and caches.
	s2 := open(t, cfg)
	l2, err := NewLedger(context.Background(), LedgerConfig{Client: s2.FirestoreClient()})
	if err != nil {
		t.Fatal(err)
	}
	actions2, err := jobs.New(jobs.Config{Ledger: l2, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	other := newHandler(t, core.ReceiverOptions{Store: s2, Processor: core.NewMux().With(actions2.Middleware), Clock: clk.Now})
	ctx := context.Background()
	interaction := func(typ, job string) []byte {
		return fmt.Appendf(nil, `{"type":%q,"version":"v1","timestamp":%q,"data":{"id":"interactions/%s"}}`, typ, clk.Now().Format(time.RFC3339Nano), job)
	}
	steps := []struct {
		name string
		h    *core.Receiver
		id   string
		body []byte
		rpcs int
	}{
		{"new delivery of a new job: Create (claim), Create (job), Update (complete)", h, "msg_r1", interaction(core.InteractionRequiresAction, "i1"), 3},
		{"new delivery of a job this instance knows: Create, Update (job), Update", h, "msg_r2", interaction(core.InteractionCompleted, "i1"), 3},
		{"duplicate at the same instance: none", h, "msg_r2", interaction(core.InteractionCompleted, "i1"), 0},
		{"new delivery of a job another instance wrote: Create, Create (fails), Get, Update, Update", other, "msg_r3", interaction(core.InteractionFailed, "i1"), 5},
	}
	rc.take()
	for _, st := range steps {
		r := st.h.Handle(ctx, signed(t, st.id, clk.Now(), st.body))
		n, by := rc.take()
		t.Logf("%s: %s", st.name, by)
		if r.Status/100 != 2 || n != st.rpcs {
			t.Errorf("%s: %d %s after %d round trips (%s), want 2xx after %d", st.name, r.Status, r.Outcome, n, by, st.rpcs)
		}
	}
	j, err := l.GetJob(ctx, "interactions/i1")
	if err != nil || j == nil || j.State != jobs.JobSucceeded || len(j.Deliveries) != 3 {
		t.Fatalf("job %+v, %v; want succeeded (the completion wins over the later failure) with 3 deliveries", j, err)
	}
}
