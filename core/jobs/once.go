package jobs

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/geminiwebhooks/receiver/core"
)

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
				core.AddLineAttrs(ctx, slog.String("handlers", "not run: the reconcile acted on this job (duplicate at job level)"))
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
		job, err := p.update(ctx, f.job.ID, func(j *Job) (*Job, error) { return sentNotice(j, ReconcileNotice, now), nil })
		if err != nil {
			return err
		}
		f.job = job
		return nil
	}
}
