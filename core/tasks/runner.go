package tasks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
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
	log := r.logger().With("webhook_id", t.ID, "attempt", attempt)
	start := r.now()
	ev, dup, err := r.execute(ctx, &log, t)
	if dup {
		return r.duplicate(ctx, log, start)
	}
	return r.finish(ctx, log, t, ev, attempt, err, start)
}

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
// claim was completed already, so nothing ran. log gains the event's
// attributes.
func (r *Runner) execute(ctx context.Context, log **slog.Logger, t Task) (ev *core.Event, dup bool, err error) {
	ev, err = t.Event()
	if err != nil {
		return nil, false, err
	}
	*log = (*log).With("event_type", ev.Type)
	if id := ev.JobID(); id != "" {
		*log = (*log).With("job_id", id)
	}
	claim, verdict, err := r.claim(ctx, t)
	switch {
	case err != nil:
		return ev, false, fmt.Errorf("task claim %s: %w", TaskKey(t.ID), err)
	case verdict == core.Duplicate:
		return ev, true, nil
	case verdict == core.InProgress:
		return ev, false, &core.RetryLaterError{At: r.now().Add(inProgressRetry), Reason: "another worker is running task " + t.ID, Free: true}
	case verdict == core.Conflict:
		return ev, false, fmt.Errorf("%w: task %s ran with another body", core.ErrPermanent, t.ID)
	}
	pctx, line := core.WithLineAttrs(ctx)
	err = r.process(pctx, ev)
	*log = (*log).With(attrsArgs(line.Attrs())...)
	if r.Claims == nil {
		return ev, false, err
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.storeTimeout())
	defer cancel()
	if err != nil {
		if rerr := r.Claims.Release(sctx, claim); rerr != nil {
			(*log).WarnContext(ctx, "task claim not released; it is free when its lease ends", "error", rerr.Error())
		}
		return ev, false, err
	}
	ttl := r.ClaimTTL
	if ttl <= 0 {
		ttl = core.DefaultTTL
	}
	if cerr := r.Claims.Complete(sctx, claim, r.now().Add(ttl)); cerr != nil {
		// The handlers ran: acknowledging is right; a later copy of the task
		// may run them again once the lease ends (at least once).
		(*log).WarnContext(ctx, "task claim not completed", "error", cerr.Error())
	}
	return ev, false, nil
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

// duplicate logs a task whose claim was completed: acknowledged, nothing run.
func (r *Runner) duplicate(ctx context.Context, log *slog.Logger, start time.Time) error {
	log.InfoContext(ctx, "task", "outcome", string(core.OutcomeDuplicate), "latency_ms", roundMS(r.now().Sub(start)))
	return nil
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
	log := r.logger().With("webhook_id", t.ID, "replay", true)
	start := r.now()
	ev, dup, err := r.execute(ctx, &log, t)
	outcome := core.OutcomeProcessed
	if dup {
		outcome = core.OutcomeDuplicate
	}
	if err != nil {
		if errors.Is(err, core.ErrPermanent) {
			if derr := r.deadLetter(ctx, t, ev, d.Attempts+1, err); derr != nil {
				err = errors.Join(err, derr)
			}
		}
		r.logger().ErrorContext(ctx, "task", "webhook_id", t.ID, "replay", true, "outcome", string(core.OutcomeFailed), "error", truncate(err.Error(), 2048), "latency_ms", roundMS(r.now().Sub(start)))
		return "", err
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.storeTimeout())
	defer cancel()
	if err := r.DeadLetters.DeleteDeadLetter(sctx, d.Key); err != nil {
		return outcome, fmt.Errorf("delivery %s completed; its dead letter not deleted: %w", d.Key, err)
	}
	log.InfoContext(ctx, "task", "outcome", string(outcome), "latency_ms", roundMS(r.now().Sub(start)))
	return outcome, nil
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
	return r.finish(ctx, r.logger().With("webhook_id", t.ID, "attempt", attempt), t, nil, attempt, cause, r.now())
}

// finish logs the attempt's one line and turns its error into the answer.
func (r *Runner) finish(ctx context.Context, log *slog.Logger, t Task, ev *core.Event, attempt int, err error, start time.Time) error {
	ms := roundMS(r.now().Sub(start))
	switch {
	case err == nil:
		log.InfoContext(ctx, "task", "outcome", string(core.OutcomeProcessed), "latency_ms", ms)
		return nil
	case errors.Is(err, core.ErrPermanent):
		if derr := r.deadLetter(ctx, t, ev, attempt, err); derr != nil {
			log.ErrorContext(ctx, "task", "outcome", string(core.OutcomeFailed), "error", truncate(err.Error(), 2048), "store_error", derr.Error(), "latency_ms", ms)
			return fmt.Errorf("permanent failure not kept as a dead letter; redeliver: %w", derr)
		}
		log.ErrorContext(ctx, "task", "outcome", string(core.OutcomeDeadLetter), "reason", truncate(err.Error(), 2048), "latency_ms", ms)
		return nil
	default:
		log.WarnContext(ctx, "task", "outcome", "retry", "error", truncate(err.Error(), 2048), "latency_ms", ms)
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

// truncate bounds an error message kept with a task or a dead letter.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// roundMS is a duration in milliseconds with microsecond precision, as the
// receiver's latency_ms.
func roundMS(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Microsecond)) / 1000
}

// attrsArgs turns attributes into slog's key-value arguments.
func attrsArgs(attrs []slog.Attr) []any {
	out := make([]any, len(attrs))
	for i, a := range attrs {
		out[i] = a
	}
	return out
}
