package bolt

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"testing"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
	"github.com/geminiwebhooks/receiver/core/tasks"
	"github.com/geminiwebhooks/receiver/core/verify"
)

// probe is a notifier that reads the file's ledger, as any other writer
// sees it, when it is asked to send.
type probe struct {
	ledger *Ledger
	mu     sync.Mutex
	seen   []*jobs.Job
}

func (p *probe) Name() string { return "probe" }

func (p *probe) Notify(_ context.Context, n jobs.Notification) error {
	j, err := p.ledger.GetJob(context.Background(), n.Job.ID)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.seen = append(p.seen, j)
	p.mu.Unlock()
	return nil
}

// What the ledger holds for an attempt never hides what guards an effect:
// when a notice is sent, its id and the event's record are committed.
func TestNoticeCommittedBeforeItIsSent(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	queued, _ := NewTasks(s.DB())
	ledger, _ := NewLedger(s.DB())
	pr := &probe{ledger: ledger}
	actions, err := jobs.New(jobs.Config{Ledger: ledger, Logger: log, Notifiers: []jobs.Notifier{pr}})
	if err != nil {
		t.Fatal(err)
	}
	q, err := tasks.NewQueue(tasks.QueueOptions{Tasks: queued, Processor: core.NewMux().With(actions.Middleware), DeadLetters: s, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); q.Run(rctx) }()
	defer func() { cancel(); <-done }()
	v, err := verify.New(ctx, verify.Config{Secrets: []string{benchSecret}})
	if err != nil {
		t.Fatal(err)
	}
	recv, err := core.NewReceiver(core.ReceiverOptions{Verifier: v.Schemes(), Store: s, Queue: q, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	wh, _ := standardwebhooks.NewWebhook(benchSecret)
	if r := recv.Handle(ctx, signed(t, wh, core.BatchFailed, 1)); r.Status != http.StatusAccepted {
		t.Fatalf("%d %s", r.Status, r.Reason)
	}
	waitUntil(t, "the notice", func() bool {
		pr.mu.Lock()
		defer pr.mu.Unlock()
		return len(pr.seen) == 1
	})
	j := pr.seen[0]
	if j == nil || j.State != jobs.JobFailed || len(j.Deliveries) != 1 {
		t.Fatalf("the record when the notice was sent: %+v, want the failed job with its delivery", j)
	}
	if n, ok := j.Notices["probe:"+core.BatchFailed]; !ok || n.DeliveryID != "msg_bench_0000001" || !n.SentAt.IsZero() {
		t.Fatalf("the notice when it was sent: %+v (%v), want started with the delivery's id", n, ok)
	}
}
