package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/geminiwebhooks/receiver/core"
)

// Record is the first built-in action: it puts the event in the job
// ledger (one record per job, states only moving forward) and hands the
// job to the next actions in the context. An event that names no job, or a
// malformed or another kind's one, is logged and passes through untracked.
func (p *Actions) Record(next core.HandlerFunc) core.HandlerFunc {
	return func(ctx context.Context, ev *core.Event) error {
		f, err := p.record(ctx, ev)
		if errors.Is(err, errRefuted) {
			refuted(ctx, err)
			return nil // done: a hint the API contradicts runs nothing
		}
		if err != nil {
			return err
		}
		if f != nil {
			ctx = context.WithValue(ctx, flowKey{}, f)
		}
		return next(ctx, ev)
	}
}

// record is Record's work: the flow of a tracked event, nil for an untracked one.
func (p *Actions) record(ctx context.Context, ev *core.Event) (*flow, error) {
	id := ev.JobID()
	idErr := core.ValidJobID(core.JobKind(ev.Type), id)
	logged := id
	if idErr != nil {
		logged = core.PrintableID(id) // not a valid id: bounded and escaped
	}
	// Only a refused event logs a line of its own; building the logger
	// then, not for every event, keeps its cost off the common path.
	warnUntracked := func(reason string) {
		p.c.Logger.With("webhook_id", ev.Delivery.ID, "event_type", ev.Type, "job_id", logged).
			WarnContext(ctx, "event not tracked in the job ledger", "reason", reason)
	}
	hint := ev.Delivery.Hint()
	if id == "" || !core.KnownEventType(ev.Type) {
		if hint {
			return nil, unconfirmable("the event names no job the Gemini API can confirm")
		}
		// Not a job's event (an unknown type, no id): said on the delivery's line.
		core.AddLineAttrs(ctx, slog.Bool("job_tracked", false))
		return nil, nil
	}
	// The id becomes a ledger key and an API path: a malformed one (a query,
	// a traversal, another kind's name) is refused, not retried.
	if idErr != nil {
		if hint {
			return nil, unconfirmable(idErr.Error())
		}
		core.AddLineAttrs(ctx, slog.Bool("job_tracked", false), slog.String("job_error", idErr.Error()))
		warnUntracked(idErr.Error())
		return nil, nil
	}
	now := p.c.Clock()
	kind := core.JobKind(ev.Type)
	// A batch's terminal state comes from the Gemini API, not from an event:
	// an event can be forged or replayed, the API's answer cannot. The event
	// is recorded and the API is asked; without an API client the event's
	// word is all there is, and is recorded as before.
	confirm := kind == "batch" && (ev.Type == core.BatchSucceeded || eventState(ev.Type).Terminal())
	byAPI := confirm && p.c.Batches != nil
	// The same for an interaction's end (its requires_action is not an end).
	confirmIA := kind == "interaction" && eventState(ev.Type).Terminal() && p.c.Interactions != nil
	// And a video's: its file must be one the API generated.
	confirmVideo := ev.Type == core.VideoGenerated && p.c.Files != nil && videoSource(ev) != ""
	byAPI = byAPI || confirmIA || confirmVideo
	f := &flow{sink: p.c.Sink, batch: confirm, interaction: confirmIA, video: confirmVideo}
	if hint {
		// Nothing is written before the API confirms what the hint says.
		if err := p.askHint(ctx, f, ev, id, kind); err != nil {
			return nil, err
		}
		byAPI, f.batch, f.interaction, f.video = true, kind == "batch", kind == "interaction", kind == "video"
	}
	job, err := p.update(ctx, id, func(j *Job) (*Job, error) {
		f.wasTerminal = j != nil && j.State.Terminal()
		// One record per (kind, id): an event of another kind never takes
		// over a job (ValidJobID already keeps batch names to batches).
		if j != nil && j.Kind != kind {
			return nil, fmt.Errorf("%w: %s is a %s job, the event is about a %s", errOtherKind, id, j.Kind, kind)
		}
		if byAPI {
			return recordEvent(j, ev, now), nil
		}
		return f.ended(j, ApplyEvent(j, ev, now), ev), nil
	})
	if errors.Is(err, errOtherKind) {
		core.AddLineAttrs(ctx, slog.Bool("job_tracked", false), slog.String("job_error", err.Error()))
		warnUntracked(err.Error())
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	f.job = job
	return f, nil
}
