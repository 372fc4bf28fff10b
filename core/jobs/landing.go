package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/internal/text"
)

// Land lands a finished job's output in the sink once per job, whatever
// the number of deliveries or attempts: the landing is claimed in the
// ledger with an owner and a lease, streamed, checked against its size and
// recorded with its manifest.
func (p *Actions) Land(next core.HandlerFunc) core.HandlerFunc {
	return func(ctx context.Context, ev *core.Event) error {
		f := flowOf(ctx)
		if f != nil && (f.job.Landing == LandingPending || f.job.Landing == LandingActive) {
			job, err := p.land(ctx, f.job, f.inline)
			if err != nil {
				return err
			}
			f.job = job
		}
		return next(ctx, ev)
	}
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

	// Wait for a turn before claiming, so no lease runs out while waiting.
	select {
	case p.landings <- struct{}{}:
		defer func() { <-p.landings }()
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}

	// The claim and its lease guard the download and the sink's object: the
	// ledger has them when UpdateJob returns, before either starts.
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
		reason := text.Truncate(err.Error(), 1024)
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
	if _, rerr := p.update(detached, id, func(j *Job) (*Job, error) { return ReleaseLanding(j, owner, text.Truncate(err.Error(), 1024), done) }); rerr != nil && !errors.Is(rerr, core.ErrNotOwner) {
		p.c.Logger.WarnContext(ctx, "cannot release landing; its lease will end it", "job_id", id, "error", rerr.Error())
	}
	return nil, fmt.Errorf("landing %s: %w", id, err)
}

// cannotFetch says why source cannot be fetched with this configuration ("" when it can).
func (p *Actions) cannotFetch(source string) string {
	if p.c.Fetcher == nil {
		return p.c.NoBatchesReason
	}
	if c, ok := p.c.Fetcher.(fetchChecker); ok {
		if err := c.CanFetch(source); err != nil {
			return err.Error()
		}
	}
	return ""
}

var errLeaseLost = errors.New("landing lease lost to another worker")

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
		return Manifest{}, "", fmt.Errorf("%w: the Gemini API reports %s as %s, not generated", ErrNotConfirmed, job.Source, text.Truncate(dl.Origin, 32))
	}
	// Nor a generated file that is not a video (another job's batch output).
	if ct := dl.ContentType; job.Kind == "video" && ct != "" && !strings.HasPrefix(ct, "video/") {
		return Manifest{}, "", fmt.Errorf("%w: the Gemini API reports %s as %s, not a video", ErrNotConfirmed, job.Source, text.Truncate(ct, 64))
	}
	sum := newSummer(job.Kind == "batch")
	bg := sum.Background()
	defer bg.Close()
	r := io.TeeReader(&exactReader{R: dl.Body, Want: dl.Size}, bg)
	uri, err := p.c.Sink.Put(ctx, dir+"/"+outputName(job.Kind, dl.ContentType), r, dl.ContentType)
	if err != nil {
		return Manifest{}, "", fmt.Errorf("sink: %w", err)
	}
	_ = bg.Close()
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
