package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/geminiwebhooks/receiver/core"
)

// Middleware runs the built-in actions, each a middleware of its own file,
// before next, the user's handlers: Record (record.go) puts the event in
// the job ledger, Confirm (confirm.go) asks the Gemini API whether a job
// the event says ended did, Land (landing.go) lands its output once, Notify
// (notify.go) sends the notices. next then finds the job and what landed in
// its context (JobOf, Landed). If an action fails, next does not run and
// the delivery is retried; a retry repeats nothing the ledger records as
// done, so a batch is downloaded and notified once however often the
// user's handlers fail.
func (p *Actions) Middleware(next core.HandlerFunc) core.HandlerFunc {
	return p.Record(p.Confirm(p.Land(p.Notify(p.once(next)))))
}

// ReconcileNotice is the key, in Job.Notices, of the user's handlers run
// for a job the reconcile (core/reconcile) found ended: its DeliveryID is
// the reconcile's delivery that moved the job to its terminal state,
// written in the same ledger step; SentAt is set once the handlers
// succeeded for it.
const ReconcileNotice = "reconcile:handlers"

// once runs the user's handlers once per job for a job the reconcile
// acted on, and per delivery otherwise (the receiver's contract):
//   - a reconcile event runs them only if it is the one that moved the job
//     to its terminal state (a webhook that did so runs them itself), and
//     until they succeed for it;
//   - a webhook for a job a reconcile event ended is a duplicate at job
//     level: the built-in actions have done everything, the reconcile ran
//     the handlers (or its next run will), so they do not run again.
func (p *Actions) once(next core.HandlerFunc) core.HandlerFunc {
	return func(ctx context.Context, ev *core.Event) error {
		f := flowOf(ctx)
		if f == nil || !f.job.State.Terminal() {
			return next(ctx, ev)
		}
		if ev.Delivery.Scheme != core.SchemeReconcile {
			if !f.wasTerminal && !f.madeTerminal() {
				// Ended by someone else while this delivery was in flight:
				// read who did (a reconcile writes its notice in that step).
				j, err := p.c.Ledger.GetJob(ctx, f.job.ID)
				if err != nil {
					return fmt.Errorf("job ledger %s: %w", f.job.ID, err)
				}
				if j != nil {
					f.job = j
				}
			}
			if _, ok := f.job.Notices[ReconcileNotice]; ok {
				f.log.InfoContext(ctx, "handlers not run: the reconcile acted on this job", "reason", "duplicate at job level")
				return nil
			}
			return next(ctx, ev)
		}
		n, ok := f.job.Notices[ReconcileNotice]
		if !ok || n.DeliveryID != ev.Delivery.ID || !n.SentAt.IsZero() {
			return nil // a delivery ended it, or these handlers ran already
		}
		if err := next(ctx, ev); err != nil {
			return err
		}
		now := p.c.Clock()
		job, err := p.update(ctx, f.job.ID, func(j *Job) (*Job, error) { return SentNotice(j, ReconcileNotice, now), nil })
		if err != nil {
			return err
		}
		f.job = job
		return nil
	}
}

// flow is what the built-in actions pass each other, and the user's
// handlers, through the context of one event: the job as the ledger has it
// after each action.
type flow struct {
	job    *Job
	inline []byte // a batch's inline responses, read by Confirm for Land
	log    *slog.Logger
	sink   Sink
	// What Confirm asks the API about.
	batch, interaction, video bool
	// wasTerminal: the job was terminal when the event was recorded;
	// endedAt: the FinishedAt of this event's ledger step that ended the
	// job (a step rerun by the store, or lost to another writer, leaves a
	// record with another FinishedAt).
	wasTerminal bool
	endedAt     time.Time
}

// madeTerminal reports whether this event's ledger step ended the job.
func (f *flow) madeTerminal() bool {
	return !f.endedAt.IsZero() && f.endedAt.Truncate(time.Microsecond).Equal(f.job.FinishedAt.Truncate(time.Microsecond))
}

// ended is called in a ledger step that turns prev into next: when next is
// the step that ends the job, the flow made it terminal, and a reconcile
// event records itself as the one to run the handlers (ReconcileNotice).
// It returns next.
func (f *flow) ended(prev, next *Job, ev *core.Event) *Job {
	if next == nil || !next.State.Terminal() || (prev != nil && prev.State.Terminal()) {
		return next
	}
	f.endedAt = next.FinishedAt
	if ev.Delivery.Scheme == core.SchemeReconcile {
		if next.Notices == nil {
			next.Notices = make(map[string]Notice)
		}
		next.Notices[ReconcileNotice] = Notice{DeliveryID: ev.Delivery.ID}
	}
	return next
}

type flowKey struct{}

func flowOf(ctx context.Context) *flow {
	f, _ := ctx.Value(flowKey{}).(*flow)
	return f
}

// JobOf returns the job ledger's record of the event's job as the built-in
// actions left it (state, output, user_metadata, deliveries seen), or false
// for an event that names no job.
func JobOf(ctx context.Context) (*Job, bool) {
	r := flowOf(ctx)
	if r == nil {
		return nil, false
	}
	return r.job.Clone(), true
}

// Landing is a job's output as it landed in RESULTS_SINK: the manifest
// (where, bytes, SHA-256, line counts) and the object itself, to stream.
type Landing struct {
	Manifest Manifest
	sink     Sink
	key      string
}

// ErrNotLanded: the event's job has no landed output (not a finished batch
// or video, no RESULTS_SINK or GEMINI_API_KEY, or nothing to land).
var ErrNotLanded = errors.New("nothing landed for this job")

// Landed returns what the built-in landing put in the sink for the event's
// job: on batch.succeeded and video.generated, once the output is whole in
// RESULTS_SINK. A retried delivery, or a second delivery of the job, sees
// the same landing (it was landed once). The error wraps ErrNotLanded with
// the ledger's reason when there is none.
func Landed(ctx context.Context) (*Landing, error) {
	r := flowOf(ctx)
	if r == nil {
		return nil, ErrNotLanded
	}
	if r.job.Landing != LandingLanded || r.job.Output == nil || r.sink == nil {
		if r.job.LandingError != "" {
			return nil, errors.Join(ErrNotLanded, errors.New(r.job.LandingError))
		}
		return nil, ErrNotLanded
	}
	return &Landing{Manifest: *r.job.Output, sink: r.sink, key: JobPath(r.job.ID) + "/" + outputName(r.job.Kind, r.job.Output.ContentType)}, nil
}

// Open streams the landed output from the sink (constant memory whatever
// its size); the caller closes it.
func (l *Landing) Open(ctx context.Context) (io.ReadCloser, error) {
	return l.sink.Open(ctx, l.key)
}
