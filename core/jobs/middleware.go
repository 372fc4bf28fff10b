package jobs

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/geminiwebhooks/receiver/core"
)

// Middleware runs the built-in actions, each a middleware of its own file,
// before next, the user's handlers: Record (record.go) puts the event in
// the job ledger, Confirm (confirm.go) asks the Gemini API whether a job
// the event says ended did, runTools (tools.go) answers an interaction's
// function calls with the mux's tools and continues it, Land (landing.go) lands its output once, Notify
// (notify.go) sends the notices, and once (once.go) keeps the user's
// handlers to one run per job the reconcile acted on. next then finds the
// job and what landed in its context (JobOf, Landed). If an action fails, next does not run and
// the delivery is retried; a retry repeats nothing the ledger records as
// done, so a batch is downloaded and notified once however often the
// user's handlers fail.
func (p *Actions) Middleware(next core.HandlerFunc) core.HandlerFunc {
	return p.Record(p.Confirm(p.runTools(p.Land(p.Notify(p.once(next))))))
}

// flow is what the built-in actions pass each other, and the user's
// handlers, through the context of one event: the job as the ledger has it
// after each action.
type flow struct {
	job    *Job
	inline []byte // a batch's inline responses, read by Confirm for Land
	sink   Sink
	// What Confirm asks the API about, and the API's answers a hint's
	// check already has (askHint), used instead of asking again.
	batch, interaction, video bool
	batchSt                   *BatchStatus
	iaSt                      *InteractionStatus
	fileSt                    *FileStatus
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
