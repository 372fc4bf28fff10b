package firestore

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"google.golang.org/api/option"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

// BenchmarkHandler serves signed deliveries through core.Receiver on the
// memory store and on this store against the emulator, and reports the
// store's gRPC round trips per delivery (rpcs/op): a new delivery (with the
// built-in actions' job ledger on Firestore too, new-with-ledger), a
// duplicate where it completed, and at another instance as it arrives with
// its event and as a retry later.
//
//	go test -run '^$' -bench Handler -benchtime 2s ./adapters/firestore
func BenchmarkHandler(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B, rc *rpcCounter, cache int) core.Store
	}{
		{"memory", func(*testing.B, *rpcCounter, int) core.Store { return core.NewMemoryStore(1 << 24) }},
		{"firestore-emulator", func(b *testing.B, rc *rpcCounter, cache int) core.Store {
			cfg := newConfig(b)
			cfg.Hints = cache
			cfg.ClientOptions = []option.ClientOption{countingOption(b, rc)}
			return open(b, cfg)
		}},
	}
	for _, st := range stores {
		b.Run(st.name+"/new", func(b *testing.B) {
			var rc rpcCounter
			h := benchHandler(b, st.open(b, &rc, 0))
			benchNew(b, h, &rc)
		})
		// With the job ledger: a thin event of a new job (an interaction's)
		// is recorded in one write; a finished batch with nowhere to land
		// (no API key, no sink here) writes the skipped landing's reason too.
		for _, ev := range []struct {
			name string
			body func(id string, at time.Time) []byte
		}{{"interaction", interactionBodyAt}, {"batch-not-landed", eventBodyAt}} {
			b.Run(st.name+"/new-with-ledger/"+ev.name, func(b *testing.B) {
				var rc rpcCounter
				s := st.open(b, &rc, 0)
				var l jobs.Ledger = jobs.NewMemoryLedger(1 << 24)
				if fs, ok := s.(*Store); ok {
					var err error
					if l, err = NewLedger(context.Background(), LedgerConfig{Client: fs.FirestoreClient()}); err != nil {
						b.Fatal(err)
					}
				}
				actions, err := jobs.New(jobs.Config{Ledger: l, Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					b.Fatal(err)
				}
				reqs := newRequests(b, "new-"+ev.name, 1024)
				reqs.body = ev.body
				benchServe(b, newHandler(b, core.ReceiverOptions{Store: s, Processor: core.NewMux().With(actions.Middleware)}), reqs, &rc)
			})
		}
		// A duplicate at the instance that completed it (the completed-cache answers).
		b.Run(st.name+"/duplicate", func(b *testing.B) {
			var rc rpcCounter
			h := benchHandler(b, st.open(b, &rc, 0))
			benchDuplicates(b, h, h, &rc, 0)
		})
		// A duplicate at an instance that has not seen it complete, arriving
		// with its event, and as one of Gemini's retries a minute later.
		for _, dup := range []struct {
			name string
			age  time.Duration
		}{{"duplicate-other-instance", 0}, {"retry-other-instance", time.Minute}} {
			b.Run(st.name+"/"+dup.name, func(b *testing.B) {
				var rc rpcCounter
				s := st.open(b, &rc, -1)
				if _, mem := s.(*core.MemoryStore); mem {
					b.Skip("one process only")
				}
				h := benchHandler(b, s)
				benchDuplicates(b, h, h, &rc, dup.age)
			})
		}
		// Gemini's retry of a delivery answered 409 at this instance (busy hint: read first).
		b.Run(st.name+"/in-progress-retry", func(b *testing.B) {
			var rc rpcCounter
			s := st.open(b, &rc, 0)
			body := eventBody("busy")
			now := time.Now()
			if got, err := s.Claim(context.Background(), core.Claim{Key: "msg_busy", Owner: "crashed", BodyHash: core.HashBody(body), Now: now, LeaseUntil: now.Add(time.Hour)}); err != nil || got != core.Claimed {
				b.Fatal(got, err)
			}
			h := benchHandler(b, s)
			wire := signed(b, "msg_busy", now, body)
			rc.take()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				req := wire
				req.Body = bytes.NewReader(body)
				if r := h.Handle(context.Background(), req); r.Outcome != core.OutcomeInProgress {
					b.Fatalf("retry %d: %d %s", i, r.Status, r.Outcome)
				}
			}
			b.StopTimer()
			reportRPCs(b, &rc)
		})
	}
}

// benchNew serves new deliveries of events happening now.
func benchNew(b *testing.B, h *core.Receiver, rc *rpcCounter) {
	benchServe(b, h, newRequests(b, "new", 1024), rc)
}

// benchServe serves reqs' deliveries, b.N of them.
func benchServe(b *testing.B, h *core.Receiver, reqs *requests, rc *rpcCounter) {
	rc.take()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		reqs.serve(b, h, i, http.StatusOK)
	}
	b.StopTimer()
	reportRPCs(b, rc)
}

// benchDuplicates serves one delivery, then its duplicate over and over,
// of an event that happened age before.
func benchDuplicates(b *testing.B, first, h *core.Receiver, rc *rpcCounter, age time.Duration) {
	body := eventBodyAt("dup", time.Now().Add(-age))
	wire := signed(b, "msg_dup", time.Now(), body)
	if r := first.Handle(context.Background(), signed(b, "msg_dup", time.Now(), body)); r.Outcome != core.OutcomeProcessed {
		b.Fatalf("first delivery: %d %s", r.Status, r.Outcome)
	}
	rc.take()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := wire
		req.Body = bytes.NewReader(body)
		if r := h.Handle(context.Background(), req); r.Outcome != core.OutcomeDuplicate {
			b.Fatalf("duplicate %d: %d %s %s", i, r.Status, r.Outcome, r.Reason)
		}
	}
	b.StopTimer()
	reportRPCs(b, rc)
}

func reportRPCs(b *testing.B, rc *rpcCounter) {
	n, by := rc.take()
	b.ReportMetric(float64(n)/float64(b.N), "rpcs/op")
	if n > 0 {
		b.Logf("N=%d: %s", b.N, by)
	}
}

func benchHandler(b *testing.B, s core.Store) *core.Receiver {
	return newHandler(b, core.ReceiverOptions{Store: s, Processor: core.HandlerFunc(func(context.Context, *core.Event) error { return nil })})
}

// requests signs distinct deliveries in batches, off the clock, so the
// benchmark times the handler and not the test's signing.
type requests struct {
	prefix string
	batch  int
	next   int // first index not yet signed
	bodies [][]byte
	reqs   []core.Request
	body   func(id string, at time.Time) []byte
}

func newRequests(b *testing.B, prefix string, batch int) *requests {
	return &requests{prefix: prefix, batch: batch, body: eventBodyAt}
}

// interactionBodyAt is a completed interaction of its own, at t.
func interactionBodyAt(id string, t time.Time) []byte {
	return fmt.Appendf(nil, `{"type":"interaction.completed","version":"v1","timestamp":%q,"data":{"id":"interactions/%s"}}`, t.UTC().Format(time.RFC3339Nano), id)
}

func (r *requests) serve(b *testing.B, h *core.Receiver, i int, want int) {
	if i >= r.next {
		b.StopTimer()
		r.bodies, r.reqs = r.bodies[:0], r.reqs[:0]
		now := time.Now()
		for j := range r.batch {
			id := fmt.Sprintf("msg_%s_%d", r.prefix, i+j)
			body := r.body(id, now)
			r.bodies = append(r.bodies, body)
			r.reqs = append(r.reqs, signed(b, id, now, body))
		}
		r.next = i + r.batch
		b.StartTimer()
	}
	k := i - (r.next - r.batch)
	if resp := h.Handle(context.Background(), r.reqs[k]); resp.Status != want {
		b.Fatalf("delivery %d: %d %s %s", i, resp.Status, resp.Outcome, resp.Reason)
	}
}
