package tasks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/internal/text"
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

	// Claims, when set, holds a claim on TaskKey(t.ID) while a task runs and
	// keeps it completed for ClaimTTL once it ran, so that the handlers run
	// once per delivery whoever hands the task over: a queue's redelivery, a
	// replayed dead letter racing a live worker, a second replay. A task
	// whose claim another worker holds is retried later (free); one whose
	// claim is completed is acknowledged without running anything.
	Claims   core.Store
	ClaimTTL time.Duration // 0: core.DefaultTTL

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
	dup, err := r.execute(ctx, &line, t)
	if dup {
		err = errDuplicate
	}
	return r.finish(ctx, line, t, attempt, err, start)
}

// errDuplicate: the task's claim was completed already; nothing ran.
var errDuplicate = errors.New("task already completed")

// TaskKey is the claim key of the task of delivery id (Runner.Claims): apart
// from the delivery's own key, which the receiver completes once the task is
// queued.
func TaskKey(id string) string { return "task:" + id }

// DefaultTaskLease bounds a task's claim when its context has no deadline:
// past it a crashed worker's task may be taken over.
const DefaultTaskLease = 10 * time.Minute

// inProgressRetry is when a task whose claim another worker holds is tried
// again.
const inProgressRetry = 30 * time.Second

// execute runs t's event under its claim (Claims): dup reports that its
// claim was completed already, so nothing ran. line gains the event and
// what its processing added.
func (r *Runner) execute(ctx context.Context, line *core.EventLine, t Task) (dup bool, err error) {
	ev, err := t.Event()
	if err != nil {
		return false, err
	}
	line.Event = ev
	claim, verdict, err := r.claim(ctx, t)
	switch {
	case err != nil:
		return false, fmt.Errorf("task claim %s: %w", TaskKey(t.ID), err)
	case verdict == core.Duplicate:
		return true, nil
	case verdict == core.InProgress:
		return false, &core.RetryLaterError{At: r.now().Add(inProgressRetry), Reason: "another worker is running task " + t.ID, Free: true}
	case verdict == core.Conflict:
		return false, fmt.Errorf("%w: task %s ran with another body", core.ErrPermanent, t.ID)
	}
	var pctx context.Context
	pctx, line.Attrs = core.WithEventLine(ctx, r.logger(), ev)
	err = r.process(pctx, ev)
	if r.Claims == nil {
		return false, err
	}
	log := core.Logger(pctx)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.storeTimeout())
	defer cancel()
	if err != nil {
		if rerr := r.Claims.Release(sctx, claim); rerr != nil {
			log.WarnContext(ctx, "task claim not released; it is free when its lease ends", "error", rerr.Error())
		}
		return false, err
	}
	ttl := r.ClaimTTL
	if ttl <= 0 {
		ttl = core.DefaultTTL
	}
	if cerr := r.Claims.Complete(sctx, claim, r.now().Add(ttl)); cerr != nil {
		// The handlers ran: acknowledging is right; a later copy of the task
		// may run them again once the lease ends (at least once).
		log.WarnContext(ctx, "task claim not completed", "error", cerr.Error())
	}
	return false, nil
}

// claim takes t's claim (Claimed without Claims).
func (r *Runner) claim(ctx context.Context, t Task) (core.Claim, core.ClaimResult, error) {
	if r.Claims == nil {
		return core.Claim{}, core.Claimed, nil
	}
	now := r.now()
	c := core.Claim{Key: TaskKey(t.ID), Owner: core.NewOwner(), BodyHash: core.HashBody(t.Body), Now: now, LeaseUntil: now.Add(DefaultTaskLease)}
	if dl, ok := ctx.Deadline(); ok && dl.Before(c.LeaseUntil) {
		c.LeaseUntil = dl
	}
	sctx, cancel := context.WithTimeout(ctx, r.storeTimeout())
	defer cancel()
	v, err := r.Claims.Claim(sctx, c)
	return c, v, err
}

// Replay runs dead letter d's delivery again, under its task claim, and
// deletes d once the delivery completed: now, or before (its claim was
// completed: nothing runs twice, and a second replay runs nothing). It
// returns core.OutcomeProcessed or core.OutcomeDuplicate; on an error the
// dead letter stays (with the new reason when the failure is permanent).
// It is what the deployed functions' authenticated replay entry runs.
func (r *Runner) Replay(ctx context.Context, d core.DeadLetter) (core.Outcome, error) {
	if r.Processor == nil || r.DeadLetters == nil {
		return "", errors.New("task runner: Processor and DeadLetters are required")
	}
	t := Task{ID: d.Key, Scheme: d.Scheme, Body: d.Body, EnqueuedAt: d.ReceivedAt}
	line := core.EventLine{Msg: core.LineTask, ID: t.ID, Scheme: t.Scheme, Attempt: d.Attempts + 1, Replay: true}
	start := r.now()
	defer func() {
		line.Latency = r.now().Sub(start)
		line.Log(ctx, r.logger())
	}()
	dup, err := r.execute(ctx, &line, t)
	line.Outcome = core.OutcomeProcessed
	if dup {
		line.Outcome = core.OutcomeDuplicate
	}
	if err != nil {
		line.Outcome, line.Err = core.OutcomeFailed, err
		if errors.Is(err, core.ErrPermanent) {
			if derr := r.deadLetter(ctx, t, line.Event, d.Attempts+1, err); derr != nil {
				line.StoreErr = derr
				err = errors.Join(err, derr)
			}
		}
		return "", err
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.storeTimeout())
	defer cancel()
	if err := r.DeadLetters.DeleteDeadLetter(sctx, d.Key); err != nil {
		line.StoreErr = err
		return line.Outcome, fmt.Errorf("delivery %s completed; its dead letter not deleted: %w", d.Key, err)
	}
	return line.Outcome, nil
}

func (r *Runner) storeTimeout() time.Duration {
	if r.StoreTimeout > 0 {
		return r.StoreTimeout
	}
	return core.DefaultStoreTimeout
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
	case errors.Is(err, errDuplicate):
		line.Outcome = core.OutcomeDuplicate
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
	d := core.DeadLetter{Key: t.ID, Scheme: t.Scheme, Reason: text.Truncate(cause.Error(), 2048), Body: t.Body, ReceivedAt: t.EnqueuedAt, Attempts: attempt}
	if ev != nil {
		d.EventType = ev.Type
	}
	if d.ReceivedAt.IsZero() {
		d.ReceivedAt = r.now()
	}
	// Kept even if the delivery's own time ran out: it is its last word.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.storeTimeout())
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
