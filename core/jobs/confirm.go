package jobs

import (
	"context"
	"fmt"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/internal/text"
)

// Confirm asks the Gemini API whether a job that the event says ended did
// (a batch, an interaction, a video): an event can be forged or replayed,
// the API's answer cannot. A job the API reports still running is retried
// later; one the ledger already knows asks the API nothing.
func (p *Actions) Confirm(next core.HandlerFunc) core.HandlerFunc {
	return func(ctx context.Context, ev *core.Event) error {
		f := flowOf(ctx)
		if f == nil {
			return next(ctx, ev)
		}
		var err error
		if f.batch {
			if f.job, f.inline, err = p.confirmBatch(ctx, f, f.job, ev); err != nil {
				return err
			}
		}
		if f.interaction {
			if f.job, err = p.confirmInteraction(ctx, f, f.job, ev); err != nil {
				return err
			}
		}
		if f.video {
			if f.job, err = p.confirmVideo(ctx, f, f.job, ev); err != nil {
				return err
			}
		}
		ev.Confirmed = f.job.APIState != "" && f.job.State == claimedState(ev.Type)
		if ev.Delivery.Hint() {
			if !ev.Confirmed {
				// The ledger holds another end than the hint reports.
				refuted(ctx, fmt.Errorf("%w: the job ledger has %s %s, the event %s", errRefuted, f.job.ID, f.job.State, ev.Type))
				return nil
			}
			confirmedData(ev, f.job)
		}
		return next(ctx, ev)
	}
}

// Each of these returns the API's answer a hint's check already has, once,
// or asks the API.
func (p *Actions) getBatch(ctx context.Context, f *flow, id string) (BatchStatus, error) {
	if st := f.batchSt; st != nil {
		f.batchSt = nil
		return *st, nil
	}
	return p.c.Batches.GetBatch(ctx, id)
}

func (p *Actions) getInteraction(ctx context.Context, f *flow, id string) (InteractionStatus, error) {
	if st := f.iaSt; st != nil {
		f.iaSt = nil
		return *st, nil
	}
	return p.c.Interactions.GetInteraction(ctx, id)
}

func (p *Actions) statFile(ctx context.Context, f *flow, name string) (FileStatus, error) {
	if st := f.fileSt; st != nil {
		f.fileSt = nil
		return *st, nil
	}
	return p.c.Files.StatFile(ctx, name)
}

// confirmBatch asks the API about a batch the event says succeeded, unless
// the ledger already knows its outcome. It returns inline responses when
// the batch has no output file.
func (p *Actions) confirmBatch(ctx context.Context, f *flow, job *Job, ev *core.Event) (*Job, []byte, error) {
	landingDue := job.Landing == LandingPending || job.Landing == LandingActive
	if job.State.Terminal() && !(job.Source == SourceInline && landingDue) {
		return job, nil, nil // known: a second delivery asks the API nothing
	}
	now := p.c.Clock()
	if p.c.Batches == nil {
		if job.LastEvent != core.BatchSucceeded {
			return job, nil, nil // ApplyEvent recorded what the event says
		}
		// Nothing can confirm it: record what the event says, unconfirmed.
		job, err := p.update(ctx, job.ID, func(j *Job) (*Job, error) {
			prev := j
			j = j.Clone()
			if j.moveTo(JobSucceeded, now, now) {
				j.Landing, j.LandingError, j.UpdatedAt = LandingSkipped, p.c.NoBatchesReason, now
				return f.ended(prev, j, ev), nil
			}
			return nil, nil
		})
		return job, nil, err
	}
	st, err := p.getBatch(ctx, f, job.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("gemini batches.get %s: %w", job.ID, err)
	}
	job, err = p.update(ctx, job.ID, func(j *Job) (*Job, error) {
		next := ApplyBatchStatus(j, st, now)
		// The API confirmed the failure the event reports but says less
		// about it: the event's code and message describe the same outcome.
		if j != nil && !j.State.Terminal() && next.State == JobFailed && eventState(ev.Type) == JobFailed && st.ErrorMessage == "" && ev.Data.ErrorMessage != "" && !ev.Delivery.Hint() {
			next.ErrorCode, next.ErrorMessage = string(ev.Data.ErrorCode), text.Truncate(ev.Data.ErrorMessage, 1024)
		}
		return f.ended(j, next, ev), nil
	})
	if err != nil {
		return nil, nil, err
	}
	if !job.State.Terminal() {
		return nil, nil, &core.RetryLaterError{At: now.Add(defaultNotRunningYet), Reason: fmt.Sprintf("batch %s: the Gemini API reports %s, not finished", job.ID, st.APIState)}
	}
	if job.State == JobSucceeded && job.Source == "" && (job.Landing == LandingPending) {
		job, err = p.update(ctx, job.ID, func(j *Job) (*Job, error) {
			return SkipLanding(j, "the Gemini API names no output file for the batch", now), nil
		})
	}
	return job, st.Inline, err
}

// confirmInteraction asks the API about an interaction an event says ended,
// unless the ledger already knows its end.
func (p *Actions) confirmInteraction(ctx context.Context, f *flow, job *Job, ev *core.Event) (*Job, error) {
	if job.State.Terminal() {
		return job, nil
	}
	now := p.c.Clock()
	st, err := p.getInteraction(ctx, f, job.ID)
	if err != nil {
		return nil, fmt.Errorf("gemini interactions.get %s: %w", job.ID, err)
	}
	job, err = p.update(ctx, job.ID, func(j *Job) (*Job, error) {
		next := applyInteractionStatus(j, st, now)
		// The API confirmed the failure the event reports but says less about it.
		if j != nil && !j.State.Terminal() && next.State == JobFailed && eventState(ev.Type) == JobFailed && st.ErrorMessage == "" && ev.Data.ErrorMessage != "" && !ev.Delivery.Hint() {
			next.ErrorCode, next.ErrorMessage = string(ev.Data.ErrorCode), text.Truncate(ev.Data.ErrorMessage, 1024)
		}
		return f.ended(j, next, ev), nil
	})
	if err != nil {
		return nil, err
	}
	// A hint's requires_action is confirmed by the API reporting the same.
	if !job.State.Terminal() && !(ev.Delivery.Hint() && job.State == claimedState(ev.Type)) {
		return nil, &core.RetryLaterError{At: now.Add(defaultNotRunningYet), Reason: fmt.Sprintf("interaction %s: the Gemini API reports %s, not finished", job.ID, st.APIState)}
	}
	return job, nil
}

// confirmVideo asks the API about the file a video.generated event names,
// unless the ledger already knows the job's end.
func (p *Actions) confirmVideo(ctx context.Context, f *flow, job *Job, ev *core.Event) (*Job, error) {
	if job.State.Terminal() || job.Landing == LandingSkipped {
		return job, nil
	}
	now := p.c.Clock()
	st, err := p.statFile(ctx, f, job.Source)
	if err != nil {
		return nil, fmt.Errorf("gemini files.get %s: %w", job.Source, err)
	}
	job, err = p.update(ctx, job.ID, func(j *Job) (*Job, error) { return f.ended(j, applyVideoStatus(j, st, now), ev), nil })
	if err != nil {
		return nil, err
	}
	if !job.State.Terminal() && job.Landing != LandingSkipped {
		return nil, &core.RetryLaterError{At: now.Add(defaultNotRunningYet), Reason: fmt.Sprintf("video %s: the Gemini API reports %s, not ready", job.Source, text.Truncate(st.State, 32))}
	}
	return job, nil
}
