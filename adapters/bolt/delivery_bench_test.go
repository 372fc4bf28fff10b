package bolt

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	bbolt "go.etcd.io/bbolt"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
	"github.com/geminiwebhooks/receiver/core/tasks"
	"github.com/geminiwebhooks/receiver/core/verify"
)

const benchSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// pipeline is the local default end to end on one bbolt file: the receiver
// (static scheme, 202 queued) in front of the durable queue, whose worker
// runs the built-in actions over the bbolt ledger and one user handler.
type pipeline struct {
	store     *Store
	queue     *tasks.Queue
	recv      *core.Receiver
	handled   atomic.Int64 // user handler runs
	stopQueue func()
}

// newPipeline builds it on path; handler (nil: none) runs after the
// counting one.
func newPipeline(tb testing.TB, path string, o tasks.QueueOptions, handler core.HandlerFunc) *pipeline {
	tb.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	p := &pipeline{store: s}
	queued, err := NewTasks(s.DB())
	if err != nil {
		tb.Fatal(err)
	}
	ledger, err := NewLedger(s.DB())
	if err != nil {
		tb.Fatal(err)
	}
	actions, err := jobs.New(jobs.Config{Ledger: ledger, Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	mux := core.NewMux().Default(func(ctx context.Context, ev *core.Event) error {
		p.handled.Add(1)
		if handler != nil {
			return handler(ctx, ev)
		}
		return nil
	})
	o.Tasks, o.Processor, o.DeadLetters, o.Logger = queued, mux.With(actions.Middleware), s, log
	if p.queue, err = tasks.NewQueue(o); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.queue.Run(ctx) }()
	p.stopQueue = func() { cancel(); <-done }
	v, err := verify.New(ctx, verify.Config{Secrets: []string{benchSecret}})
	if err != nil {
		tb.Fatal(err)
	}
	p.recv, err = core.NewReceiver(core.ReceiverOptions{Verifier: v.Schemes(), Store: s, Queue: p.queue, Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// close stops the worker (what runs is left in the file, as by a crash)
// and closes the file.
func (p *pipeline) close() {
	p.stopQueue()
	p.store.Close()
}

// signed is delivery i as Gemini sends it, of type typ, about a job of
// its own, signed now. A batch.succeeded ends its job: recorded, its
// landing skipped (no sink), two ledger steps.
func signed(tb testing.TB, wh *standardwebhooks.Webhook, typ string, i int) core.Request {
	id := fmt.Sprintf("msg_bench_%07d", i)
	job := fmt.Sprintf("batches/bench-%07d", i)
	if strings.HasPrefix(typ, "interaction.") {
		job = fmt.Sprintf("interactions/bench-%07d", i)
	}
	body := fmt.Appendf(nil, `{"type":%q,"version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":%q,"output_file_uri":"files/out-%07d"}}`, typ, job, i)
	now := time.Now()
	sig, err := wh.Sign(id, now, body)
	if err != nil {
		tb.Fatal(err)
	}
	h := http.Header{}
	h.Set(verify.HeaderID, id)
	h.Set(verify.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	h.Set(verify.HeaderSignature, sig)
	return core.Request{Method: http.MethodPost, Header: h, Body: &byteReader{b: body}, ContentLength: int64(len(body))}
}

type byteReader struct{ b []byte }

func (r *byteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// commits is the file's transaction id: bbolt adds one per committed write
// transaction, and each commit calls fdatasync twice (data pages, then the
// meta page) unless NoSync.
func commits(tb testing.TB, db *bbolt.DB) int64 {
	var id int
	if err := db.View(func(tx *bbolt.Tx) error { id = tx.ID(); return nil }); err != nil {
		tb.Fatal(err)
	}
	return int64(id)
}

// waitDrained waits until every delivery's user handler ran and its task
// left the file (its processing committed).
func (p *pipeline) waitDrained(tb testing.TB, n int64) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		if p.handled.Load() >= n {
			if len(p.queued(tb)) == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("not drained: %d of %d handled", p.handled.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// queued lists the tasks in the file (a read: it commits nothing).
func (p *pipeline) queued(tb testing.TB) []tasks.Task {
	tb.Helper()
	var ts []tasks.Task
	err := p.store.DB().View(func(tx *bbolt.Tx) error {
		var err error
		ts, err = listTasks(tx)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return ts
}

// BenchmarkFileStoreDelivery sends b.N signed deliveries, 64 at a time,
// through the receiver into the queue and waits until the worker has
// processed them all. It reports, per delivery, the write transactions
// asked of bbolt and the commits (each two fdatasync), and the deliveries
// accepted and processed per second. ends_job: every delivery ends its job
// (batch.succeeded); job_running: none does (interaction.requires_action).
//
//	go test -run '^$' -bench FileStoreDelivery -benchtime 5000x ./adapters/bolt
func BenchmarkFileStoreDelivery(b *testing.B) {
	b.Run("ends_job", func(b *testing.B) { benchDeliveries(b, core.BatchSucceeded) })
	b.Run("job_running", func(b *testing.B) { benchDeliveries(b, core.InteractionRequiresAction) })
}

func benchDeliveries(b *testing.B, typ string) {
	p := newPipeline(b, filepath.Join(b.TempDir(), "state.db"), tasks.QueueOptions{}, nil)
	defer p.close()
	wh, err := standardwebhooks.NewWebhook(benchSecret)
	if err != nil {
		b.Fatal(err)
	}
	reqs := make([]core.Request, b.N)
	for i := range reqs {
		reqs[i] = signed(b, wh, typ, i)
	}
	ctx := context.Background()
	txs0, commits0 := writeTxs.Load(), commits(b, p.store.DB())
	b.ResetTimer()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(reqs)); i = next.Add(1) - 1 {
				if r := p.recv.Handle(ctx, reqs[i]); r.Status != http.StatusAccepted {
					b.Errorf("delivery %d: %d %s %s", i, r.Status, r.Outcome, r.Reason)
				}
			}
		})
	}
	wg.Wait()
	accepted := time.Since(start)
	p.waitDrained(b, int64(b.N))
	processed := time.Since(start)
	b.StopTimer()
	n := float64(b.N)
	txs, cs := float64(writeTxs.Load()-txs0), float64(commits(b, p.store.DB())-commits0)
	b.ReportMetric(txs/n, "txs/delivery")
	b.ReportMetric(cs/n, "commits/delivery")
	b.ReportMetric(2*cs/n, "fdatasync/delivery")
	b.ReportMetric(n/accepted.Seconds(), "accepted/s")
	b.ReportMetric(n/processed.Seconds(), "processed/s")
}
