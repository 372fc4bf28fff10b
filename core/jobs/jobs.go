package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/geminiwebhooks/receiver/core"
)

// Defaults of the job processor.
const (
	DefaultLandingLease  = 2 * time.Minute
	defaultNotRunningYet = 30 * time.Second // wait when the API does not report the batch finished yet
	ManifestName         = "manifest.json"
	maxManifestBytes     = 1 << 20
)

// Config configures the job processor. Ledger is required; without
// Batches a batch.succeeded is recorded but not confirmed nor landed,
// without Sink nothing lands, without Fetcher only inline outputs land.
// A hint (core.Delivery.Hint) whose kind of job has no API client here is
// not acted on: it fails with core.ErrPermanent, to be kept as a dead letter.
type Config struct {
	Ledger  Ledger
	Batches Batches
	// Interactions confirms an interaction's end with the API; without it
	// the event's word is recorded, unconfirmed.
	Interactions Interactions
	// Files confirms a generated video's file with the API before the job
	// is succeeded; without it the event's word is recorded, unconfirmed.
	Files Files
	// Agent reads an interaction's pending function calls and continues
	// it, for the tools a mux registers (core.Mux.Tool); without it
	// requires_action only reaches the handlers.
	Agent Agent
	// MaxRounds bounds the interactions of one tools conversation; 0:
	// DefaultMaxRounds (INTERACTION_MAX_ROUNDS).
	MaxRounds int
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

	// MaxLandings bounds the landings that download at once in this
	// process (each holds a connection and about 4 MiB of buffers), so that
	// many worker lanes cost memory only while they land; the others wait,
	// before claiming the landing. 0: DefaultMaxLandings.
	MaxLandings int
}

// Actions acts on events: it records each in the job ledger, confirms a
// finished batch with the Gemini API, lands its output (or a generated
// video) in the sink exactly once per job, and sends the notifications.
// Every step is recorded in the ledger before the next, so an attempt that
// fails or crashes is resumed by the next one without redoing what is
// done: Actions is the Processor behind both the inline handler and the queue
// workers.
type Actions struct {
	c        Config
	landings chan struct{} // one token per landing downloading (MaxLandings)
	rounds   roundLocks    // one round of an interaction at a time (runTools)
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
	if c.MaxLandings <= 0 {
		c.MaxLandings = DefaultMaxLandings
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
	if c.MaxRounds <= 0 {
		c.MaxRounds = DefaultMaxRounds
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
	return &Actions{c: c, landings: make(chan struct{}, c.MaxLandings)}, nil
}

// DefaultMaxLandings is Config.MaxLandings's default: a landing streams at
// disk or network speed, so a few at once fill either.
const DefaultMaxLandings = 4

// Ledger is the ledger the processor writes.
func (p *Actions) Ledger() Ledger { return p.c.Ledger }

// Process runs the built-in actions on ev: Processor, for a process that
// has no handlers of its own.
func (p *Actions) Process(ctx context.Context, ev *core.Event) error {
	return p.Middleware(func(context.Context, *core.Event) error { return nil })(ctx, ev)
}

// errOtherKind: the event names a job the ledger knows as another kind.
var errOtherKind = errors.New("job id belongs to another kind of job")

// ErrNotConfirmed: the Gemini API does not confirm what an event says about
// a job's output; the landing is skipped, not retried.
var ErrNotConfirmed = errors.New("not confirmed by the Gemini API")

// OriginGenerated is Download.Origin for a file the service generated.
const OriginGenerated = "GENERATED"

func (p *Actions) update(ctx context.Context, id string, fn func(*Job) (*Job, error)) (*Job, error) {
	j, err := p.c.Ledger.UpdateJob(ctx, id, fn)
	if err != nil {
		return nil, fmt.Errorf("job ledger %s: %w", id, err)
	}
	return j, nil
}
