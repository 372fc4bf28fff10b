package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/geminiwebhooks/receiver/core"
)

// Notifier tells someone about a job after the ledger is updated: a
// forward of the event to another webhook endpoint, a chat message.
// Notify makes one attempt; the processor bounds it with a timeout and
// retries it.
type Notifier interface {
	Name() string
	Notify(ctx context.Context, n Notification) error
}

// Notification is what a notifier sends.
type Notification struct {
	Job   *Job
	Event *core.Event
	// DeliveryID is the id the notification carries: fixed in the ledger
	// before the first attempt, so a resend carries the same one and the
	// receiver can drop the copy.
	DeliveryID string
}

// Notify sends each notifier's notice of the job once per job and event
// type (the ledger records it sent), then puts the job's state on the
// delivery's log line.
func (p *Actions) Notify(next core.HandlerFunc) core.HandlerFunc {
	return func(ctx context.Context, ev *core.Event) error {
		f := flowOf(ctx)
		if f == nil {
			return next(ctx, ev)
		}
		job, err := p.notify(ctx, f.job, ev)
		if err != nil {
			return err
		}
		f.job = job
		// The job's state goes on the delivery's one log line.
		attrs := []slog.Attr{slog.String("job_state", string(job.State))}
		if job.Landing != LandingNone {
			attrs = append(attrs, slog.String("landing", string(job.Landing)))
		}
		if job.Output != nil {
			attrs = append(attrs, slog.String("output", job.Output.URI), slog.Int64("bytes", job.Output.Bytes))
		}
		if job.LandingError != "" {
			attrs = append(attrs, slog.String("landing_error", job.LandingError))
		}
		core.AddLineAttrs(ctx, attrs...)
		return next(ctx, ev)
	}
}

// notify sends each notifier's notification for this job and event type
// once: the ledger records it sent.
func (p *Actions) notify(ctx context.Context, job *Job, ev *core.Event) (*Job, error) {
	for _, n := range p.c.Notifiers {
		key := n.Name() + ":" + ev.Type
		if nt, ok := job.Notices[key]; ok && !nt.SentAt.IsZero() {
			continue
		}
		// The notice's id reaches the ledger before it is sent, so that a
		// resend after a crash carries the same one.
		now := p.c.Clock()
		var err error
		job, err = p.update(ctx, job.ID, func(j *Job) (*Job, error) { return startNotice(j, key, ev.Delivery.ID, now), nil })
		if err != nil {
			return nil, err
		}
		note := Notification{Job: job, Event: ev, DeliveryID: job.Notices[key].DeliveryID}
		if err := p.send(ctx, n, note); err != nil {
			return nil, fmt.Errorf("notify %s: %w", n.Name(), err)
		}
		sent := p.c.Clock()
		if job, err = p.update(ctx, job.ID, func(j *Job) (*Job, error) { return sentNotice(j, key, sent), nil }); err != nil {
			return nil, err
		}
	}
	return job, nil
}

// notifyBackoff spaces a notifier's attempts: about 1 s, 2 s, 4 s.
var notifyBackoff = core.Backoff{First: time.Second, Max: 30 * time.Second}

// send tries n up to NotifyAttempts times, each bounded by NotifyTimeout,
// waiting notifyBackoff in between.
func (p *Actions) send(ctx context.Context, n Notifier, note Notification) error {
	var err error
	for i := range p.c.NotifyAttempts {
		if i > 0 {
			t := time.NewTimer(notifyBackoff.Delay(i))
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("%w (last attempt: %w)", ctx.Err(), err)
			case <-t.C:
			}
		}
		actx, cancel := context.WithTimeout(ctx, p.c.NotifyTimeout)
		err = n.Notify(actx, note)
		cancel()
		if err == nil {
			return nil
		}
	}
	return err
}
