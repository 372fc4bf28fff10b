package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/geminiwebhooks/receiver/core"
)

// Defaults of the job processor.
const (
	DefaultLandingLease  = 2 * time.Minute
	DefaultNotRunningYet = 30 * time.Second // wait when the API does not report the batch finished yet
	ManifestName         = "manifest.json"
	maxManifestBytes     = 1 << 20
)

// Config configures the job processor. Ledger is required; without
// Batches a batch.succeeded is recorded but not confirmed nor landed,
// without Sink nothing lands, without Fetcher only inline outputs land.
type Config struct {
	Ledger  Ledger
	Batches Batches
	// Interactions confirms an interaction's end with the API; without it
	// the event's word is recorded, unconfirmed.
	Interactions Interactions
	// Files confirms a generated video's file with the API before the job
	// is succeeded; without it the event's word is recorded, unconfirmed.
	Files     Files
	Fetcher   Fetcher
	Sink      Sink
	Notifiers []Notifier
	Logger    *slog.Logger

	// Why outputs are not landed, recorded in the ledger; set by whoever
	// leaves Batches or Sink out (e.g. "GEMINI_API_KEY is not set").
	NoBatchesReason, NoSinkReason string

	LandingLease   time.Duration // 0: 2 min; renewed while landing
	BusyRetry      time.Duration // how soon to look again while another worker lands the job; 0: 5 s
	NotifyTimeout  time.Duration // per notification attempt; 0: 10 s
	NotifyAttempts int           // per notification; 0: 3
	Clock          func() time.Time
}

// Actions acts on events: it records each in the job ledger, confirms a
// finished batch with the Gemini API, lands its output (or a generated
// video) in the sink exactly once per job, and sends the notifications.
// Every step is recorded in the ledger before the next, so an attempt that
// fails or crashes is resumed by the next one without redoing what is
// done: Actions is the Processor behind both the inline handler and the queue
// workers.
type Actions struct {
	c Config
}

// New checks c and applies its defaults.
func New(c Config) (*Actions, error) {
	if c.Ledger == nil {
		return nil, errors.New("jobs: Ledger is required")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.LandingLease <= 0 {
		c.LandingLease = DefaultLandingLease
	}
	if c.BusyRetry <= 0 {
		c.BusyRetry = 5 * time.Second
	}
	if c.NotifyTimeout <= 0 {
		c.NotifyTimeout = 10 * time.Second
	}
	if c.NotifyAttempts <= 0 {
		c.NotifyAttempts = 3
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.NoBatchesReason == "" {
		c.NoBatchesReason = "no Gemini API client configured"
	}
	if c.NoSinkReason == "" {
		c.NoSinkReason = "no results sink configured"
	}
	return &Actions{c: c}, nil
}

// Ledger is the ledger the processor writes.
func (p *Actions) Ledger() Ledger { return p.c.Ledger }

// Process runs the built-in actions on ev: Processor, for a process that
// has no handlers of its own.
func (p *Actions) Process(ctx context.Context, ev *core.Event) error {
	_, err := p.act(ctx, ev)
	return err
}

// act records ev in the ledger, confirms and lands a finished job and
// sends the notices; it returns the job as the ledger has it after that
// (nil for an event that names no job).
func (p *Actions) act(ctx context.Context, ev *core.Event) (*Job, error) {
	id := ev.JobID()
	idErr := core.ValidJobID(JobKind(ev.Type), id)
	logged := id
	if idErr != nil {
		logged = core.PrintableID(id) // not a valid id: bounded and escaped
	}
	log := p.c.Logger.With("webhook_id", ev.Delivery.ID, "event_type", ev.Type, "job_id", logged)
	if id == "" || !core.KnownEventType(ev.Type) {
		log.InfoContext(ctx, "event not tracked in the job ledger", "known_type", core.KnownEventType(ev.Type))
		return nil, nil
	}
	// The id becomes a ledger key and an API path: a malformed one (a query,
	// a traversal, another kind's name) is refused, not retried.
	if idErr != nil {
		log.WarnContext(ctx, "event not tracked in the job ledger", "reason", idErr.Error())
		return nil, nil
	}
	now := p.c.Clock()
	kind := JobKind(ev.Type)
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
	job, err := p.update(ctx, id, func(j *Job) (*Job, error) {
		// One record per (kind, id): an event of another kind never takes
		// over a job (ValidJobID already keeps batch names to batches).
		if j != nil && j.Kind != kind {
			return nil, fmt.Errorf("%w: %s is a %s job, the event is about a %s", errOtherKind, id, j.Kind, kind)
		}
		if byAPI {
			return recordEvent(j, ev, now), nil
		}
		return ApplyEvent(j, ev, now), nil
	})
	if errors.Is(err, errOtherKind) {
		log.WarnContext(ctx, "event not tracked in the job ledger", "reason", err.Error())
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var inline []byte
	if confirm {
		if job, inline, err = p.confirmBatch(ctx, job, ev); err != nil {
			return nil, err
		}
	}
	if confirmIA {
		if job, err = p.confirmInteraction(ctx, job, ev); err != nil {
			return nil, err
		}
	}
	if confirmVideo {
		if job, err = p.confirmVideo(ctx, job); err != nil {
			return nil, err
		}
	}
	if job.Landing == LandingPending || job.Landing == LandingActive {
		if job, err = p.land(ctx, job, inline); err != nil {
			return nil, err
		}
	}
	if err := p.notify(ctx, job, ev); err != nil {
		return nil, err
	}
	attrs := []any{"state", job.State, "landing", job.Landing}
	if job.Output != nil {
		attrs = append(attrs, "output", job.Output.URI, "bytes", job.Output.Bytes)
	}
	if job.LandingError != "" {
		attrs = append(attrs, "landing_error", job.LandingError)
	}
	log.InfoContext(ctx, "job updated", attrs...)
	return job, nil
}

// confirmBatch asks the API about a batch the event says succeeded, unless
// the ledger already knows its outcome. It returns inline responses when
// the batch has no output file.
func (p *Actions) confirmBatch(ctx context.Context, job *Job, ev *core.Event) (*Job, []byte, error) {
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
			j = j.Clone()
			if j.moveTo(JobSucceeded, now, now) {
				j.Landing, j.LandingError, j.UpdatedAt = LandingSkipped, p.c.NoBatchesReason, now
				return j, nil
			}
			return nil, nil
		})
		return job, nil, err
	}
	st, err := p.c.Batches.GetBatch(ctx, job.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("gemini batches.get %s: %w", job.ID, err)
	}
	job, err = p.update(ctx, job.ID, func(j *Job) (*Job, error) {
		next := ApplyBatchStatus(j, st, now)
		// The API confirmed the failure the event reports but says less
		// about it: the event's code and message describe the same outcome.
		if j != nil && !j.State.Terminal() && next.State == JobFailed && eventState(ev.Type) == JobFailed && st.ErrorMessage == "" && ev.Data.ErrorMessage != "" {
			next.ErrorCode, next.ErrorMessage = string(ev.Data.ErrorCode), truncate(ev.Data.ErrorMessage, 1024)
		}
		return next, nil
	})
	if err != nil {
		return nil, nil, err
	}
	if !job.State.Terminal() {
		return nil, nil, &core.RetryLaterError{At: now.Add(DefaultNotRunningYet), Reason: fmt.Sprintf("batch %s: the Gemini API reports %s, not finished", job.ID, st.APIState)}
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
func (p *Actions) confirmInteraction(ctx context.Context, job *Job, ev *core.Event) (*Job, error) {
	if job.State.Terminal() {
		return job, nil
	}
	now := p.c.Clock()
	st, err := p.c.Interactions.GetInteraction(ctx, job.ID)
	if err != nil {
		return nil, fmt.Errorf("gemini interactions.get %s: %w", job.ID, err)
	}
	job, err = p.update(ctx, job.ID, func(j *Job) (*Job, error) {
		next := ApplyInteractionStatus(j, st, now)
		// The API confirmed the failure the event reports but says less about it.
		if j != nil && !j.State.Terminal() && next.State == JobFailed && eventState(ev.Type) == JobFailed && st.ErrorMessage == "" && ev.Data.ErrorMessage != "" {
			next.ErrorCode, next.ErrorMessage = string(ev.Data.ErrorCode), truncate(ev.Data.ErrorMessage, 1024)
		}
		return next, nil
	})
	if err != nil {
		return nil, err
	}
	if !job.State.Terminal() {
		return nil, &core.RetryLaterError{At: now.Add(DefaultNotRunningYet), Reason: fmt.Sprintf("interaction %s: the Gemini API reports %s, not finished", job.ID, st.APIState)}
	}
	return job, nil
}

// confirmVideo asks the API about the file a video.generated event names,
// unless the ledger already knows the job's end.
func (p *Actions) confirmVideo(ctx context.Context, job *Job) (*Job, error) {
	if job.State.Terminal() || job.Landing == LandingSkipped {
		return job, nil
	}
	now := p.c.Clock()
	st, err := p.c.Files.StatFile(ctx, job.Source)
	if err != nil {
		return nil, fmt.Errorf("gemini files.get %s: %w", job.Source, err)
	}
	job, err = p.update(ctx, job.ID, func(j *Job) (*Job, error) { return ApplyVideoStatus(j, st, now), nil })
	if err != nil {
		return nil, err
	}
	if !job.State.Terminal() && job.Landing != LandingSkipped {
		return nil, &core.RetryLaterError{At: now.Add(DefaultNotRunningYet), Reason: fmt.Sprintf("video %s: the Gemini API reports %s, not ready", job.Source, truncate(st.State, 32))}
	}
	return job, nil
}

// land lands the job's output once: it claims the landing in the ledger,
// streams the output to the sink while keeping the lease alive, writes the
// manifest, and records it.
func (p *Actions) land(ctx context.Context, job *Job, inline []byte) (*Job, error) {
	now := p.c.Clock()
	skip := ""
	switch {
	case p.c.Sink == nil:
		skip = p.c.NoSinkReason
	case job.Source == "":
		skip = "no output file is known for the job"
	case job.Source == SourceInline && inline == nil:
		return nil, &core.RetryLaterError{At: now, Reason: "inline responses must be read from the API again"}
	case job.Source != SourceInline:
		skip = p.cannotFetch(job.Source)
	}
	if skip != "" {
		return p.update(ctx, job.ID, func(j *Job) (*Job, error) { return SkipLanding(j, skip, now), nil })
	}

	owner, id := core.NewOwner(), job.ID
	var verdict LandingVerdict
	job, err := p.update(ctx, id, func(j *Job) (*Job, error) {
		var next *Job
		verdict, next = ClaimLanding(j, owner, now, now.Add(p.c.LandingLease))
		return next, nil
	})
	if err != nil {
		return nil, err
	}
	switch verdict {
	case LandingDone, LandingNotNeeded:
		return job, nil
	case LandingBusy:
		// Look again soon (it is likely done by then), at the latest when
		// its lease ends; waiting costs no attempt.
		at := now.Add(p.c.BusyRetry)
		if job.LandingLease.Before(at) {
			at = job.LandingLease
		}
		return nil, &core.RetryLaterError{At: at, Free: true, Reason: "another worker is landing " + job.ID}
	}

	lctx, cancel := context.WithCancelCause(ctx)
	stopRenew := p.keepLease(lctx, cancel, job.ID, owner)
	m, manifestURI, err := p.landOutput(lctx, job, inline)
	stopRenew()
	if cause := context.Cause(lctx); err != nil && errors.Is(cause, errLeaseLost) {
		err = fmt.Errorf("%w: %w", cause, err)
	}
	cancel(nil)
	done := p.c.Clock()
	if err == nil {
		job, err = p.update(ctx, id, func(j *Job) (*Job, error) { return FinishLanding(j, owner, m, manifestURI, done) })
		if err == nil {
			return job, nil
		}
	}
	if errors.Is(err, ErrNotConfirmed) {
		// The API will not confirm this output for this job: retrying cannot
		// change that, so the landing is skipped with the reason.
		reason := truncate(err.Error(), 1024)
		return p.update(context.WithoutCancel(ctx), id, func(j *Job) (*Job, error) {
			j, rerr := ReleaseLanding(j, owner, reason, done)
			if rerr != nil {
				return nil, rerr
			}
			return SkipLanding(j, reason, done), nil
		})
	}
	// The next attempt finds the landing free (or the lease over) and
	// redoes it; Put replaces whatever this attempt left.
	detached := context.WithoutCancel(ctx)
	if _, rerr := p.update(detached, id, func(j *Job) (*Job, error) { return ReleaseLanding(j, owner, truncate(err.Error(), 1024), done) }); rerr != nil && !errors.Is(rerr, core.ErrNotOwner) {
		p.c.Logger.WarnContext(ctx, "cannot release landing; its lease will end it", "job_id", id, "error", rerr.Error())
	}
	return nil, fmt.Errorf("landing %s: %w", id, err)
}

// cannotFetch says why source cannot be fetched with this configuration ("" when it can).
func (p *Actions) cannotFetch(source string) string {
	if p.c.Fetcher == nil {
		return p.c.NoBatchesReason
	}
	if c, ok := p.c.Fetcher.(FetchChecker); ok {
		if err := c.CanFetch(source); err != nil {
			return err.Error()
		}
	}
	return ""
}

var errLeaseLost = errors.New("landing lease lost to another worker")

// errOtherKind: the event names a job the ledger knows as another kind.
var errOtherKind = errors.New("job id belongs to another kind of job")

// ErrNotConfirmed: the Gemini API does not confirm what an event says about
// a job's output; the landing is skipped, not retried.
var ErrNotConfirmed = errors.New("not confirmed by the Gemini API")

// OriginGenerated is Download.Origin for a file the service generated.
const OriginGenerated = "GENERATED"

// keepLease renews the landing lease every third of it until stop is
// called; if another owner took it, landing is cancelled.
func (p *Actions) keepLease(ctx context.Context, cancel context.CancelCauseFunc, id, owner string) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(p.c.LandingLease / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			now := p.c.Clock()
			_, err := p.c.Ledger.UpdateJob(ctx, id, func(j *Job) (*Job, error) { return RenewLanding(j, owner, now, now.Add(p.c.LandingLease)) })
			if errors.Is(err, core.ErrNotOwner) {
				cancel(errLeaseLost)
				return
			}
			if err != nil && ctx.Err() == nil {
				p.c.Logger.WarnContext(ctx, "cannot renew landing lease", "job_id", id, "error", err.Error())
			}
		}
	}()
	return func() { close(done); <-finished }
}

// landOutput writes the output and then its manifest. The manifest goes
// last, so its presence means the output is whole: a retry after a crash
// that came after it adopts it instead of downloading again.
func (p *Actions) landOutput(ctx context.Context, job *Job, inline []byte) (Manifest, string, error) {
	dir := JobPath(job.ID)
	manifestKey := dir + "/" + ManifestName
	b, err := ReadSmall(ctx, p.c.Sink, manifestKey, maxManifestBytes)
	switch {
	case err == nil:
		var m Manifest
		if json.Unmarshal(b, &m) == nil && m.JobID == job.ID && m.Source == job.Source {
			return m, p.c.Sink.URI(manifestKey), nil
		}
	case !errors.Is(err, core.ErrNotFound):
		return Manifest{}, "", fmt.Errorf("sink: %w", err)
	}

	var dl *Download
	if job.Source == SourceInline {
		dl = &Download{Body: io.NopCloser(bytes.NewReader(inline)), Size: int64(len(inline)), ContentType: "application/jsonl"}
	} else if dl, err = p.c.Fetcher.Fetch(ctx, job.Source); err != nil {
		return Manifest{}, "", fmt.Errorf("fetch %s: %w", job.Source, err)
	}
	defer dl.Body.Close()
	// A video's file is named by the event alone: land it only if the API
	// says the service generated it (not a file someone uploaded).
	if job.Kind == "video" && dl.Origin != "" && dl.Origin != OriginGenerated {
		return Manifest{}, "", fmt.Errorf("%w: the Gemini API reports %s as %s, not generated", ErrNotConfirmed, job.Source, truncate(dl.Origin, 32))
	}
	// Nor a generated file that is not a video (another job's batch output).
	if ct := dl.ContentType; job.Kind == "video" && ct != "" && !strings.HasPrefix(ct, "video/") {
		return Manifest{}, "", fmt.Errorf("%w: the Gemini API reports %s as %s, not a video", ErrNotConfirmed, job.Source, truncate(ct, 64))
	}
	sum := NewSummer(job.Kind == "batch")
	r := io.TeeReader(&ExactReader{R: dl.Body, Want: dl.Size}, sum)
	uri, err := p.c.Sink.Put(ctx, dir+"/"+outputName(job.Kind, dl.ContentType), r, dl.ContentType)
	if err != nil {
		return Manifest{}, "", fmt.Errorf("sink: %w", err)
	}
	m := sum.Manifest()
	m.JobID, m.Source, m.URI, m.ContentType, m.LandedAt = job.ID, job.Source, uri, dl.ContentType, p.c.Clock().UTC()
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Manifest{}, "", err
	}
	manifestURI, err := p.c.Sink.Put(ctx, manifestKey, bytes.NewReader(append(mb, '\n')), "application/json")
	if err != nil {
		return Manifest{}, "", fmt.Errorf("sink: %w", err)
	}
	return m, manifestURI, nil
}

// outputName is the landed output's name inside the job's folder.
func outputName(kind, contentType string) string {
	if kind == "batch" {
		return "results.jsonl"
	}
	ct, _, _ := strings.Cut(contentType, ";")
	switch strings.TrimSpace(ct) {
	case "video/mp4":
		return "video.mp4"
	case "video/webm":
		return "video.webm"
	case "video/quicktime":
		return "video.mov"
	}
	if kind == "video" {
		return "video.mp4" // Veo's format
	}
	return "output.bin"
}

// JobPath is the job's folder in a sink: its id with every byte outside
// [A-Za-z0-9_-] (and so '.', which could climb out) escaped as ~XX, and '/'
// kept between segments: "batches/abc" stays "batches/abc".
func JobPath(id string) string {
	var b strings.Builder
	for _, seg := range strings.Split(id, "/") {
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		if seg == "" {
			b.WriteString("~")
			continue
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
				b.WriteByte(c)
				continue
			}
			const digits = "0123456789ABCDEF"
			b.WriteByte('~')
			b.WriteByte(digits[c>>4])
			b.WriteByte(digits[c&0xf])
		}
	}
	return b.String()
}

func (p *Actions) update(ctx context.Context, id string, fn func(*Job) (*Job, error)) (*Job, error) {
	j, err := p.c.Ledger.UpdateJob(ctx, id, fn)
	if err != nil {
		return nil, fmt.Errorf("job ledger %s: %w", id, err)
	}
	return j, nil
}

// truncate bounds an error message kept in the ledger.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
