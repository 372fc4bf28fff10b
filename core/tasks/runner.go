package tasks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/geminiwebhooks/receiver/core"
)

// DefaultMaxLocalWait bounds how long Runner waits in process for a
// RetryLaterError's time instead of handing the task back to the queue.
const DefaultMaxLocalWait = 30 * time.Second

// Runner runs the tasks a cloud queue delivers (Pub/Sub push, SQS),
// one delivery at a time. The queue keeps each task, counts its deliveries
// and moves it to its own dead-letter queue when they run out; Run decides
// what one delivery ends in: done (acknowledge), retry (redeliver), or a
// permanent failure kept as a dead letter in DeadLetters (acknowledge, so a
// poison message does not loop). The processor is idempotent per job, so a
// delivery repeated by the queue costs nothing twice.
type Runner struct {
	Processor   core.Processor
	DeadLetters core.DeadLetters
	Logger      *slog.Logger

	StoreTimeout time.Duration // bound of the dead-letter write; 0: 5 s
	// MaxLocalWait: a RetryLaterError due within it (and well before the
	// delivery's deadline) is waited for here and retried, because the
	// queue's redelivery would come later and cost an attempt. 0: 30 s;
	// negative: never wait.
	MaxLocalWait time.Duration
	Clock        func() time.Time
}

// maxLocalRetries bounds the in-process retries of one delivery.
const maxLocalRetries = 4

// Run processes one delivery of t; attempt is the queue's count of
// deliveries, 1 for the first (0 when the queue does not say). A nil error
// means acknowledge it; an error means redeliver it later (it may be a
// *RetryLaterError saying when).
func (r *Runner) Run(ctx context.Context, t Task, attempt int) error {
	if r.Processor == nil || r.DeadLetters == nil {
		return errors.New("task runner: Processor and DeadLetters are required")
	}
	line := core.EventLine{Msg: core.LineTask, ID: t.ID, Scheme: t.Scheme, Attempt: attempt}
	start := r.now()
	ev, err := t.Event()
	if err == nil {
		line.Event = ev
		var pctx context.Context
		pctx, line.Attrs = core.WithEventLine(ctx, r.logger(), ev)
		err = r.process(pctx, ev)
	}
	return r.finish(ctx, line, t, attempt, err, start)
}

// DeadLetter keeps t as a dead letter at once, for cause (a message the
// queue delivered that can never be processed, such as one in an unknown
// encoding). Like Run, nil means acknowledge and an error redeliver.
func (r *Runner) DeadLetter(ctx context.Context, t Task, attempt int, cause error) error {
	if r.DeadLetters == nil {
		return errors.New("task runner: DeadLetters is required")
	}
	if !errors.Is(cause, core.ErrPermanent) {
		cause = fmt.Errorf("%w: %w", core.ErrPermanent, cause)
	}
	return r.finish(ctx, core.EventLine{Msg: core.LineTask, ID: t.ID, Scheme: t.Scheme, Attempt: attempt}, t, attempt, cause, r.now())
}

// finish logs the attempt's one line and turns its error into the answer.
func (r *Runner) finish(ctx context.Context, line core.EventLine, t Task, attempt int, err error, start time.Time) error {
	defer func() {
		line.Latency = r.now().Sub(start)
		line.Log(ctx, r.logger())
	}()
	switch {
	case err == nil:
		line.Outcome = core.OutcomeProcessed
		return nil
	case errors.Is(err, core.ErrPermanent):
		if derr := r.deadLetter(ctx, t, line.Event, attempt, err); derr != nil {
			line.Outcome, line.Err, line.StoreErr = core.OutcomeFailed, err, derr
			return fmt.Errorf("permanent failure not kept as a dead letter; redeliver: %w", derr)
		}
		line.Outcome, line.Reason = core.OutcomeDeadLetter, err.Error()
		return nil
	default:
		line.Outcome, line.Err = core.OutcomeRetry, err
		return err
	}
}

// process runs the processor, waiting out short RetryLaterErrors here.
func (r *Runner) process(ctx context.Context, ev *core.Event) error {
	for i := 0; ; i++ {
		err := r.Processor.Process(ctx, ev)
		var later *core.RetryLaterError
		if err == nil || i == maxLocalRetries || !errors.As(err, &later) {
			return err
		}
		wait := later.At.Sub(r.now())
		if !r.mayWait(ctx, wait) {
			return err
		}
		if wait > 0 {
			timer := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				timer.Stop()
				return err
			case <-timer.C:
			}
		}
	}
}

// mayWait: the wait is short, and leaves most of the delivery's time for
// the attempt that follows it.
func (r *Runner) mayWait(ctx context.Context, wait time.Duration) bool {
	max := r.MaxLocalWait
	if max == 0 {
		max = DefaultMaxLocalWait
	}
	if max < 0 || wait > max {
		return false
	}
	if dl, ok := ctx.Deadline(); ok && wait > dl.Sub(r.now())/4 {
		return false
	}
	return true
}

func (r *Runner) deadLetter(ctx context.Context, t Task, ev *core.Event, attempt int, cause error) error {
	d := core.DeadLetter{Key: t.ID, Scheme: t.Scheme, Reason: truncate(cause.Error(), 2048), Body: t.Body, ReceivedAt: t.EnqueuedAt, Attempts: attempt}
	if ev != nil {
		d.EventType = ev.Type
	}
	if d.ReceivedAt.IsZero() {
		d.ReceivedAt = r.now()
	}
	timeout := r.StoreTimeout
	if timeout <= 0 {
		timeout = core.DefaultStoreTimeout
	}
	// Kept even if the delivery's own time ran out: it is its last word.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	return r.DeadLetters.PutDeadLetter(sctx, d)
}

func (r *Runner) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

func (r *Runner) now() time.Time {
	if r.Clock != nil {
		return r.Clock()
	}
	return time.Now()
}

// truncate bounds an error message kept with a task or a dead letter.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
