// Package reconcile finds what the webhooks did not deliver and feeds it
// through the same pipeline as a delivery. Gemini retries a failed delivery
// for 24 hours and then gives up, and a webhook that keeps failing is
// disabled; a receiver that was down, misconfigured or behind an expired
// secret would lose finished jobs for good. Run closes that gap:
//
//   - every job the ledger holds in a non-terminal state, older than
//     Config.MinAge, is re-read from the Gemini API;
//   - the batches the API lists (all pages) since Config.Since that the
//     ledger does not know, or knows as non-terminal, are applied;
//   - the project's webhooks are checked (Config.Webhooks, see health.go).
//
// A job is applied as an event the API's answer stands for (its type from
// the API's state, data.id the job, Delivery.ID "reconcile:<job>:<state>",
// Delivery.Scheme core.SchemeReconcile), claimed in the idempotency store
// like a delivery and run by the same Processor (the built-in actions, then
// the user's handlers). The ledger's landing claim makes a job reconciled
// and delivered late, or delivered while being reconciled, land once, and
// jobs.ReconcileNotice makes the user's handlers run once for it.
//
// A run cut off (its context ends) stops cleanly; the next run resumes: what
// it applied is terminal in the ledger, so it is known, not applied again.
package reconcile

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

// Defaults of Config.
const (
	DefaultSince       = 48 * time.Hour
	DefaultMinAge      = 5 * time.Minute
	DefaultLedgerScan  = 10000
	DefaultConcurrency = 8
	DefaultLease       = 10 * time.Minute
	// Interval is how often the local server runs a reconcile, and the
	// schedule deploy/ scripts create in the clouds.
	Interval = 15 * time.Minute
)

// Batch is one batch as the API lists it.
type Batch struct {
	Name     string        // batches/…
	APIState string        // the API's own name, e.g. JOB_STATE_SUCCEEDED
	State    jobs.JobState // the ledger's name for it
	Created  time.Time
	Updated  time.Time
}

// BatchLister lists the project's batches (the genai SDK's Batches.List):
// it calls fn for each, page after page until the last, and stops at the
// first error, fn's included.
type BatchLister interface {
	ListBatches(ctx context.Context, fn func(Batch) error) error
}

// Config configures a run. Processor and Ledger are required; the rest
// turns parts on.
type Config struct {
	// Processor is what a delivery runs: the user's mux behind the
	// built-in actions (wire.App.Processor).
	Processor core.Processor
	// Ledger is the job ledger Processor writes.
	Ledger jobs.Ledger
	// Store, when set, claims each applied event's delivery id like the
	// receiver does, so two runs at once apply a job once.
	Store core.Store
	// Lister lists the batches; nil: no listing.
	Lister BatchLister
	// Batches, Interactions re-read the ledger's unfinished jobs; nil:
	// those kinds are not re-read. A video job is re-read by Processor
	// itself (its Files API check).
	Batches      jobs.Batches
	Interactions jobs.Interactions
	// ContinueTools: Processor answers interaction.requires_action with
	// tools (core.Mux.Tool), so an interaction the API reports waiting for
	// function results and that the ledger has not continued gets that
	// event, as a lost webhook would have brought it.
	ContinueTools bool
	// Webhooks, when set, checks the project's webhooks (Check).
	Webhooks WebhookLister
	// ReceiverURLs are this receiver's own URLs: a webhook pointing
	// elsewhere is reported. Empty: not checked.
	ReceiverURLs []string
	// Alert, when set, is told of the webhooks' problems once per run that
	// finds any (e.g. a Slack post); its error is logged.
	Alert func(ctx context.Context, problems []Problem) error
	// Runs, when set, keeps each run's summary (LastRun) for the
	// operator's status; a dry run is not kept.
	Runs RunLog

	Since       time.Duration // batches created or updated since; 0: 48 h
	MinAge      time.Duration // unfinished ledger jobs not updated for this long are re-read; 0: 5 min
	LedgerScan  int           // the newest ledger jobs looked at in one query; 0: 10,000
	Concurrency int           // jobs applied at once; 0: 8
	TTL         time.Duration // how long an applied delivery id is kept; 0: core.DefaultTTL (48 h)
	DryRun      bool          // report what would be applied; apply nothing
	Logger      *slog.Logger
	Clock       func() time.Time
}

// Summary is what a run did.
type Summary struct {
	Seen    int // jobs looked at: listed batches since the cut-off and unfinished ledger jobs
	Known   int // already terminal in the ledger (or applied by an earlier run)
	Running int // the API reports them not finished, or a delivery is at them (updated within MinAge): nothing to apply yet
	Applied int // fed through the pipeline (DryRun: would be)
	Landed  int // of those, with an output landed
	Failed  int // could not be read or applied; the next run tries again
	// CutOff: the context ended before the run looked at everything; the
	// next run resumes.
	CutOff bool
	// Problems are the webhooks' health problems (Check), each logged at ERROR.
	Problems []Problem
	// APICalls counts the calls this run made to the Gemini API itself
	// (list pages are counted by the lister; Processor's own calls are not).
	APICalls int
}

// Run reconciles once and logs one line per job (source: reconcile) and a
// summary. The error is for what stops the whole run (a listing that fails
// midway, a ledger that cannot be read); a job that fails is counted, logged
// and left to the next run.
func Run(ctx context.Context, c Config) (Summary, error) {
	if c.Processor == nil || c.Ledger == nil {
		return Summary{}, errors.New("reconcile: Processor and Ledger are required")
	}
	c.defaults()
	r := &run{c: c, now: c.Clock(), sem: make(chan struct{}, c.Concurrency), handled: map[string]bool{}}
	start := time.Now()
	err := r.all(ctx)
	r.wg.Wait()
	if c.Webhooks != nil {
		probs, herr := Check(ctx, c.Webhooks, c.ReceiverURLs, r.now, c.Logger)
		r.sum.Problems = probs
		err = errors.Join(err, herr)
		if len(probs) > 0 && c.Alert != nil {
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			if aerr := c.Alert(actx, probs); aerr != nil {
				c.Logger.WarnContext(ctx, "webhook health: the alert was not sent", "source", "reconcile", "error", aerr.Error())
			}
			cancel()
		}
	}
	if ctx.Err() != nil {
		r.sum.CutOff = true
	}
	s := r.sum
	attrs := []any{"source", "reconcile", "seen", s.Seen, "already_known", s.Known, "running", s.Running,
		"applied", s.Applied, "landed", s.Landed, "failed", s.Failed, "webhook_problems", len(s.Problems),
		"dry_run", c.DryRun, "cut_off", s.CutOff, "since", c.Since.String(), "latency_ms", time.Since(start).Milliseconds()}
	if err != nil {
		attrs = append(attrs, "error", err.Error())
		c.Logger.ErrorContext(ctx, "reconcile summary", attrs...)
	} else {
		c.Logger.InfoContext(ctx, "reconcile summary", attrs...)
	}
	c.keep(ctx, lastRun(s, err, c.Clock(), time.Since(start)))
	return s, err
}

func (c *Config) defaults() {
	if c.Since <= 0 {
		c.Since = DefaultSince
	}
	if c.MinAge <= 0 {
		c.MinAge = DefaultMinAge
	}
	if c.LedgerScan <= 0 {
		c.LedgerScan = DefaultLedgerScan
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.TTL <= 0 {
		c.TTL = core.DefaultTTL
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
}

type run struct {
	c   Config
	now time.Time

	wg  sync.WaitGroup
	sem chan struct{}

	mu      sync.Mutex
	sum     Summary
	handled map[string]bool // job ids already looked at in this run
}

func (r *run) count(f func(*Summary)) {
	r.mu.Lock()
	f(&r.sum)
	r.mu.Unlock()
}

// all is the run's two passes: the ledger's unfinished jobs, then the listing.
func (r *run) all(ctx context.Context) error {
	known, complete, err := r.ledgerPass(ctx)
	if err != nil {
		return err
	}
	if r.c.Lister == nil {
		return nil
	}
	cutoff := r.now.Add(-r.c.Since)
	err = r.c.Lister.ListBatches(ctx, func(b Batch) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if newest(b.Created, b.Updated).Before(cutoff) || r.handled[b.Name] {
			return nil
		}
		r.handled[b.Name] = true
		r.count(func(s *Summary) { s.Seen++ })
		log := r.c.Logger.With("source", "reconcile", "job_id", b.Name, "api_state", b.APIState)
		if !b.State.Terminal() {
			r.count(func(s *Summary) { s.Running++ })
			log.DebugContext(ctx, "reconcile", "outcome", "running")
			return nil
		}
		j, ok := known[b.Name]
		if !ok && !complete {
			// Beyond the ledger's scan: the one read this batch costs.
			got, err := r.c.Ledger.GetJob(ctx, b.Name)
			if err != nil {
				r.count(func(s *Summary) { s.Failed++ })
				log.WarnContext(ctx, "reconcile", "outcome", "failed", "reason", err.Error())
				return nil
			}
			j = got
		}
		if j != nil && j.State.Terminal() && !handlersDue(j) {
			r.count(func(s *Summary) { s.Known++ })
			log.DebugContext(ctx, "reconcile", "outcome", "known", "state", j.State)
			return nil
		}
		if j != nil && !j.State.Terminal() && j.UpdatedAt.After(r.now.Add(-r.c.MinAge)) {
			// A delivery is likely being processed right now (or retried
			// soon): leave it to that, and to the next run if it does not end.
			r.count(func(s *Summary) { s.Running++ })
			log.InfoContext(ctx, "reconcile", "outcome", "in_flight", "state", j.State)
			return nil
		}
		r.apply(ctx, log, "batch", b.Name, b.State, "")
		return nil
	})
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("reconcile: list batches: %w", err)
	}
	return nil
}

// ledgerPass re-reads the ledger's unfinished jobs older than MinAge and
// applies those the API reports ended. It returns the jobs it read by id,
// and whether they are the whole ledger (so a listed batch absent from
// them is absent from the ledger, at no further read).
func (r *run) ledgerPass(ctx context.Context) (map[string]*jobs.Job, bool, error) {
	list, err := r.c.Ledger.ListJobs(ctx, r.c.LedgerScan)
	if err != nil {
		return nil, false, fmt.Errorf("reconcile: read the job ledger: %w", err)
	}
	known := make(map[string]*jobs.Job, len(list))
	for i := range list {
		known[list[i].ID] = &list[i]
	}
	old := r.now.Add(-r.c.MinAge)
	for i := range list {
		j := &list[i]
		if ctx.Err() != nil {
			break
		}
		if j.UpdatedAt.After(old) || (j.State.Terminal() && !handlersDue(j)) {
			continue
		}
		r.handled[j.ID] = true
		r.count(func(s *Summary) { s.Seen++ })
		log := r.c.Logger.With("source", "reconcile", "job_id", j.ID, "kind", j.Kind, "state", j.State)
		if j.State.Terminal() { // its handlers are due (a failed earlier run)
			r.apply(ctx, log, j.Kind, j.ID, j.State, j.Source)
			continue
		}
		st, apiState, err := r.reread(ctx, j)
		switch {
		case err != nil:
			r.count(func(s *Summary) { s.Failed++ })
			log.WarnContext(ctx, "reconcile", "outcome", "failed", "reason", err.Error())
		case st == "":
			log.DebugContext(ctx, "reconcile", "outcome", "not_reread", "reason", "no API client for this kind")
		case st == jobs.JobRequiresAction && j.Kind == "interaction" && j.Continuation == "" && r.c.ContinueTools:
			r.apply(ctx, log.With("api_state", apiState), j.Kind, j.ID, st, j.Source)
		case !st.Terminal():
			r.count(func(s *Summary) { s.Running++ })
			log.InfoContext(ctx, "reconcile", "outcome", "running", "api_state", apiState)
		default:
			r.apply(ctx, log.With("api_state", apiState), j.Kind, j.ID, st, j.Source)
		}
	}
	return known, len(list) < r.c.LedgerScan, nil
}

// reread asks the API for an unfinished job's state ("" when this kind
// cannot be asked here; a video's is asked by the pipeline itself).
func (r *run) reread(ctx context.Context, j *jobs.Job) (jobs.JobState, string, error) {
	switch j.Kind {
	case "batch":
		if r.c.Batches == nil || core.ValidJobID("batch", j.ID) != nil {
			return "", "", nil
		}
		r.count(func(s *Summary) { s.APICalls++ })
		st, err := r.c.Batches.GetBatch(ctx, j.ID)
		return st.State, st.APIState, err
	case "interaction":
		if r.c.Interactions == nil {
			return "", "", nil
		}
		r.count(func(s *Summary) { s.APICalls++ })
		st, err := r.c.Interactions.GetInteraction(ctx, j.ID)
		return st.State, st.APIState, err
	case "video":
		if j.Source == "" {
			return "", "", nil
		}
		return jobs.JobSucceeded, "", nil // the pipeline asks the Files API
	}
	return "", "", nil
}

// handlersDue: a reconcile ended the job but the user's handlers have not
// succeeded for it yet.
func handlersDue(j *jobs.Job) bool {
	n, ok := j.Notices[jobs.ReconcileNotice]
	return ok && n.SentAt.IsZero()
}

// EventType is the event a job's ended state stands for ("" when none).
func EventType(kind string, st jobs.JobState) string {
	switch kind + ":" + string(st) {
	case "batch:succeeded":
		return core.BatchSucceeded
	case "batch:failed":
		return core.BatchFailed
	case "batch:cancelled":
		return core.BatchCancelled
	case "batch:expired":
		return core.BatchExpired
	case "interaction:requires_action":
		return core.InteractionRequiresAction
	case "interaction:succeeded":
		return core.InteractionCompleted
	case "interaction:failed":
		return core.InteractionFailed
	case "interaction:cancelled":
		return core.InteractionCancelled
	case "video:succeeded":
		return core.VideoGenerated
	}
	return ""
}

// DeliveryID is the id of the event the reconcile applies for a job's
// state: the same in every run, so a run that repeats one is a duplicate.
func DeliveryID(job string, st jobs.JobState) string {
	return "reconcile:" + job + ":" + string(st)
}

// NewEvent is the event a reconcile applies for a job the API reports in
// state st. Its body carries no timestamp, so it is the same in every run.
func NewEvent(kind, job string, st jobs.JobState, source string, now time.Time) (*core.Event, error) {
	t := EventType(kind, st)
	if t == "" {
		return nil, fmt.Errorf("no event stands for a %s job %s", kind, st)
	}
	ev := &core.Event{Type: t, OriginalType: t, Version: "v1", Data: core.EventData{ID: job}}
	if kind == "video" {
		ev.Data.FileID = source
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	ev.Raw = raw
	ev.Delivery = core.Delivery{ID: DeliveryID(job, st), Scheme: core.SchemeReconcile, Timestamp: now}
	return ev, nil
}

// apply feeds one job through the pipeline, concurrently with the others.
func (r *run) apply(ctx context.Context, log *slog.Logger, kind, job string, st jobs.JobState, source string) {
	ev, err := NewEvent(kind, job, st, source, r.now)
	if err != nil {
		r.count(func(s *Summary) { s.Failed++ })
		log.WarnContext(ctx, "reconcile", "outcome", "failed", "reason", err.Error())
		return
	}
	log = log.With("webhook_id", ev.Delivery.ID, "event_type", ev.Type)
	if r.c.DryRun {
		r.count(func(s *Summary) { s.Applied++ })
		log.InfoContext(ctx, "reconcile", "outcome", "would_apply")
		return
	}
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer func() { <-r.sem }()
		r.applyOne(ctx, log, ev)
	}()
}

// applyOne claims the event's delivery id, processes it and records the
// outcome, as the receiver does for a delivery.
func (r *run) applyOne(ctx context.Context, log *slog.Logger, ev *core.Event) {
	start := time.Now()
	// What the built-in actions and the handlers add (AddLineAttrs, the
	// mux's handlers and handler_ms) goes on the event's reconcile line.
	var line *core.LineAttrs
	fail := func(outcome string, err error) {
		r.count(func(s *Summary) { s.Failed++ })
		var rl *core.RetryLaterError
		if errors.As(err, &rl) {
			outcome = "retry_later"
		}
		log.WarnContext(ctx, "reconcile", withLine([]any{"outcome", outcome, "reason", err.Error(), "latency_ms", time.Since(start).Milliseconds()}, line)...)
	}
	now := r.c.Clock()
	claim := core.Claim{Key: ev.Delivery.ID, Owner: core.NewOwner(), BodyHash: sha256.Sum256(ev.Raw), EventType: ev.Type, Now: now, LeaseUntil: now.Add(DefaultLease)}
	if r.c.Store != nil {
		res, err := r.c.Store.Claim(ctx, claim)
		if err != nil {
			fail("failed", fmt.Errorf("claim: %w", err))
			return
		}
		switch res {
		case core.Duplicate:
			r.count(func(s *Summary) { s.Known++ })
			log.InfoContext(ctx, "reconcile", "outcome", "duplicate")
			return
		case core.InProgress, core.Conflict:
			fail(res.String(), fmt.Errorf("delivery %s is %s elsewhere", ev.Delivery.ID, res))
			return
		}
	}
	pctx, cancel := context.WithDeadline(ctx, claim.LeaseUntil)
	pctx, line = core.WithEventLine(pctx, r.c.Logger, ev)
	err := r.c.Processor.Process(pctx, ev)
	cancel()
	if err != nil {
		if r.c.Store != nil {
			_ = r.c.Store.Release(context.WithoutCancel(ctx), claim)
		}
		fail("failed", err)
		return
	}
	if r.c.Store != nil {
		if err := r.c.Store.Complete(context.WithoutCancel(ctx), claim, r.c.Clock().Add(r.c.TTL)); err != nil {
			log.WarnContext(ctx, "reconcile: cannot record completion", "error", err.Error())
		}
	}
	attrs := []any{"outcome", "applied", "latency_ms", time.Since(start).Milliseconds()}
	landed := false
	if j, err := r.c.Ledger.GetJob(ctx, ev.JobID()); err == nil && j != nil {
		landed = j.Landing == jobs.LandingLanded
		attrs = append(attrs, "state", j.State, "landing", j.Landing)
	}
	attrs = withLine(attrs, line)
	r.count(func(s *Summary) {
		s.Applied++
		if landed {
			s.Landed++
		}
	})
	log.InfoContext(ctx, "reconcile", attrs...)
}

func newest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// withLine adds to args (key-value pairs) what was added to the event's
// line, but for the keys args has (the ledger's landing).
func withLine(args []any, line *core.LineAttrs) []any {
	have := map[any]bool{}
	for i := 0; i < len(args); i += 2 {
		have[args[i]] = true
	}
	for _, a := range line.Attrs() {
		if !have[a.Key] {
			args = append(args, a)
		}
	}
	return args
}
