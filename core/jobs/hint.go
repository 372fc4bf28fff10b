package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/internal/text"
)

// A hint is a delivery whose dynamic token binds nothing (core.Delivery.Hint):
// it proves only that Gemini sent something to this audience recently, so
// a captured token may carry any body. Before the ledger, the landing or a
// user's handler acts on it, the Gemini API is asked about the job it names,
// and the state the API reports must be the one the event reports:
//   - the same: confirmed; the job's state and outputs are the API's
//     (ApplyBatchStatus, ApplyInteractionStatus, ApplyVideoStatus), and the
//     event goes on with Confirmed set and its data replaced by the API's;
//   - the API's is behind it (still running): retried later, nothing written;
//   - another end: refuted; nothing is written and no handler runs, the
//     delivery is done (its line says why);
//   - it cannot be asked, or the API knows no such job (no API client, no
//     job, an unknown type, a malformed id, a key of another project): kept
//     as a dead letter (core.ErrPermanent), answered 2xx, to replay once it
//     can be confirmed.

// errRefuted: the Gemini API contradicts what a hint says.
var errRefuted = errors.New("the Gemini API contradicts the event")

// errNoAPI is why a hint cannot be confirmed without an API client.
const errNoAPI = "no Gemini API client is configured (GEMINI_API_KEY is not set)"

// unconfirmable is the permanent failure of a hint no API call can confirm.
func unconfirmable(reason string) error {
	return fmt.Errorf("%w: %w: the dynamic token binds no delivery, so the event must be confirmed with the Gemini API: %s", core.ErrPermanent, ErrNotConfirmed, reason)
}

// claimedState is the job state an event reports (batch.succeeded included).
func claimedState(eventType string) JobState {
	if eventType == core.BatchSucceeded {
		return JobSucceeded
	}
	return eventState(eventType)
}

// askHint asks the API about the job a hint names and decides (see above).
// On a confirmation it stores the API's answer in f, for Confirm to apply
// without asking again.
func (p *Actions) askHint(ctx context.Context, f *flow, ev *core.Event, id, kind string) error {
	claimed := claimedState(ev.Type)
	if claimed == "" {
		return unconfirmable("the event reports no state the API can confirm")
	}
	var api JobState
	var apiName, what string
	var err error
	switch kind {
	case "batch":
		if p.c.Batches == nil {
			return unconfirmable(errNoAPI)
		}
		var st BatchStatus
		if st, err = p.c.Batches.GetBatch(ctx, id); err == nil {
			api, apiName, f.batchSt = st.State, st.APIState, &st
		}
		what = "batches.get " + id
	case "interaction":
		if p.c.Interactions == nil {
			return unconfirmable(errNoAPI)
		}
		var st InteractionStatus
		if st, err = p.c.Interactions.GetInteraction(ctx, id); err == nil {
			api, apiName, f.iaSt = st.State, st.APIState, &st
		}
		what = "interactions.get " + id
	case "video":
		src := videoSource(ev)
		if p.c.Files == nil {
			return unconfirmable(errNoAPI)
		}
		if src == "" {
			return unconfirmable("the event names no Files API file")
		}
		var st FileStatus
		if st, err = p.c.Files.StatFile(ctx, src); err == nil {
			api, apiName, f.fileSt = videoState(st), st.State, &st
		}
		what = "files.get " + src
	default:
		return unconfirmable("the event names no job the Gemini API can confirm")
	}
	switch {
	case errors.Is(err, core.ErrNotFound):
		// A forged body, or a genuine event read with the key of another
		// project: kept to replay once the key is right, never dropped.
		return unconfirmable(what + ": no such job for this key (is GEMINI_API_KEY the key of the project that started it?)")
	case err != nil:
		return fmt.Errorf("gemini %s: %w", what, err)
	case api == claimed:
		return nil
	case api != "" && !api.Terminal() && (api.rank() < claimed.rank() || claimed == JobRequiresAction):
		// The API may not show the end yet: asked again later.
		return &core.RetryLaterError{At: p.c.Clock().Add(defaultNotRunningYet), Reason: fmt.Sprintf("%s: the Gemini API reports %s, the event %s", id, text.Truncate(apiName, 32), ev.Type)}
	}
	return fmt.Errorf("%w: %s: the API reports %s, the event %s", errRefuted, what, text.Truncate(apiName, 32), ev.Type)
}

// videoState is the job state a file's status confirms: "" for a file that
// is not a generated video.
func videoState(st FileStatus) JobState {
	switch {
	case st.State == "FAILED":
		return JobFailed
	case st.State != "ACTIVE":
		return JobRunning
	case st.Origin != "" && st.Origin != OriginGenerated, st.ContentType != "" && !strings.HasPrefix(st.ContentType, "video/"):
		return ""
	}
	return JobSucceeded
}

// refuted ends a hint the API contradicts: done, nothing acted on, and the
// delivery's one log line says why.
func refuted(ctx context.Context, err error) {
	core.AddLineAttrs(ctx, slog.Bool("confirmed", false), slog.String("job_error", err.Error()))
}

// confirmedData replaces what a confirmed hint's body says about the job's
// outputs with what the API says (the ledger's record), and clears what
// the API cannot confirm.
func confirmedData(ev *core.Event, job *Job) {
	d := &ev.Data
	d.ErrorCode, d.ErrorMessage = core.Code(job.ErrorCode), job.ErrorMessage
	d.OutputFileURI, d.VideoURI, d.FileName = "", "", ""
	switch job.Kind {
	case "batch":
		if job.Source != SourceInline {
			d.OutputFileURI = job.Source
		}
	case "video":
		d.FileID = job.Source
	}
}
