package wire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/storage"

	"github.com/geminiwebhooks/receiver/adapters/bolt"
	"github.com/geminiwebhooks/receiver/adapters/firestore"
	"github.com/geminiwebhooks/receiver/adapters/gemini"
	"github.com/geminiwebhooks/receiver/adapters/notify"
	"github.com/geminiwebhooks/receiver/adapters/sink"
	"github.com/geminiwebhooks/receiver/core"
)

// DefaultLocalSink is where the local server lands results, relative to
// the working directory, when RESULTS_SINK is unset.
const DefaultLocalSink = "results"

// ProcessingConfig is the environment of acting on events, beside core.Config:
//
//	GEMINI_API_KEY (or GOOGLE_API_KEY)  confirms finished batches and downloads outputs; unset: recorded, not landed
//	GOOGLE_GEMINI_BASE_URL              the Gemini API's address (tests point it at a stand-in)
//	RESULTS_SINK                        a folder, gs://bucket/prefix, s3://bucket/prefix; local default ./results, cloud default: none
//	FORWARD_URL, FORWARD_SIGNING_SECRET forward each event, re-signed (Standard Webhooks) with this whsec_ secret
//	SLACK_WEBHOOK_URL                   post a summary of each job event to this incoming webhook
//	MAX_ATTEMPTS                        attempts of a queued event before it becomes a dead letter (default 5)
//	RETRY_BACKOFF                       wait after the first failed attempt, doubled after each (default 2s)
//	FIRESTORE_JOBS_COLLECTION           the Firestore job ledger (default "jobs")
type ProcessingConfig struct {
	GeminiAPIKey    string
	GeminiBaseURL   string
	ResultsSink     string
	ForwardURL      string
	ForwardSecret   string
	SlackWebhookURL string
	MaxAttempts     int
	RetryBackoff    time.Duration
	JobsCollection  string
}

// LoadProcessing reads the processing environment through getenv. A local
// server (file store) lands in ./results by default.
func LoadProcessing(getenv func(string) string, cfg core.Config) (ProcessingConfig, error) {
	pc := ProcessingConfig{
		GeminiAPIKey:    strings.TrimSpace(getenv("GEMINI_API_KEY")),
		GeminiBaseURL:   strings.TrimSpace(getenv("GOOGLE_GEMINI_BASE_URL")),
		ResultsSink:     cfg.ResultsSink,
		ForwardURL:      strings.TrimSpace(getenv("FORWARD_URL")),
		ForwardSecret:   strings.TrimSpace(getenv("FORWARD_SIGNING_SECRET")),
		SlackWebhookURL: strings.TrimSpace(getenv("SLACK_WEBHOOK_URL")),
		MaxAttempts:     core.DefaultMaxAttempts,
		RetryBackoff:    core.DefaultRetryBackoff,
		JobsCollection:  strings.TrimSpace(getenv("FIRESTORE_JOBS_COLLECTION")),
	}
	if pc.GeminiAPIKey == "" {
		pc.GeminiAPIKey = strings.TrimSpace(getenv("GOOGLE_API_KEY")) // the SDK's other name for it
	}
	if pc.ResultsSink == "" && cfg.IdempotencyStore == "file" {
		pc.ResultsSink = DefaultLocalSink
	}
	if s := strings.TrimSpace(getenv("MAX_ATTEMPTS")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			return pc, fmt.Errorf("MAX_ATTEMPTS %q: want a whole number from 1 to 100", s)
		}
		pc.MaxAttempts = n
	}
	if s := strings.TrimSpace(getenv("RETRY_BACKOFF")); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return pc, fmt.Errorf("RETRY_BACKOFF %q: want a positive Go duration such as 2s", s)
		}
		pc.RetryBackoff = d
	}
	if (pc.ForwardURL == "") != (pc.ForwardSecret == "") {
		return pc, errors.New("FORWARD_URL and FORWARD_SIGNING_SECRET go together: set both or neither")
	}
	if strings.HasPrefix(pc.ResultsSink, "s3://") {
		if _, _, err := sink.ParseS3(pc.ResultsSink); err != nil {
			return pc, fmt.Errorf("RESULTS_SINK: %w", err)
		}
	}
	return pc, nil
}

// Processing is what acts on events: the job processor, its ledger and,
// for the local server, the durable embedded queue and its worker.
type Processing struct {
	Jobs   *core.Jobs
	Ledger core.Ledger
	Sink   core.Sink
	// Worker is the local server's queue (nil elsewhere: events are
	// processed inline until a cloud queue takes them).
	Worker *core.Worker
	Tasks  core.TaskStore

	workerOptions core.WorkerOptions
	closers       []func() error
}

// BuildProcessing builds the processing for a built store. The ledger and,
// with a file store, the task queue live in the store's own database.
func BuildProcessing(ctx context.Context, cfg core.Config, pc ProcessingConfig, store core.Store, dead core.DeadLetters, log *slog.Logger) (*Processing, error) {
	p := &Processing{}
	fail := func(err error) (*Processing, error) {
		p.Close()
		return nil, err
	}
	var boltStore *bolt.Store
	switch s := store.(type) {
	case *bolt.Store:
		l, err := bolt.NewLedger(s.DB())
		if err != nil {
			return fail(err)
		}
		p.Ledger, boltStore = l, s
	case *firestore.Store:
		l, err := firestore.NewLedger(ctx, firestore.LedgerConfig{Client: s.FirestoreClient(), Collection: pc.JobsCollection})
		if err != nil {
			return fail(err)
		}
		p.Ledger = l
	default:
		p.Ledger = core.NewMemoryLedger(0)
	}

	jc := core.JobsConfig{Ledger: p.Ledger, Logger: log, BusyRetry: pc.RetryBackoff}
	gcs := &lazyStorage{}
	p.closers = append(p.closers, gcs.Close)
	var geminiFetcher core.Fetcher
	if pc.GeminiAPIKey != "" {
		g, err := gemini.New(ctx, gemini.Config{APIKey: pc.GeminiAPIKey, BaseURL: pc.GeminiBaseURL})
		if err != nil {
			return fail(err)
		}
		jc.Batches, jc.Interactions, jc.Files, geminiFetcher = g, g, g, g
	} else {
		jc.NoBatchesReason = "GEMINI_API_KEY is not set: the job is recorded, its output is neither confirmed with the Gemini API nor landed"
		log.Warn("GEMINI_API_KEY is not set: finished batches and videos are recorded in the job ledger but not landed")
	}
	jc.Fetcher = &sourceFetcher{gemini: geminiFetcher, storage: gcs}

	switch s := pc.ResultsSink; {
	case s == "":
		jc.NoSinkReason = "RESULTS_SINK is not set"
	case strings.HasPrefix(s, "gs://"):
		client, err := gcs.Client(ctx)
		if err != nil {
			return fail(err)
		}
		g, err := sink.NewGCS(client, s)
		if err != nil {
			return fail(fmt.Errorf("RESULTS_SINK: %w", err))
		}
		p.Sink = g
	case strings.HasPrefix(s, "s3://"):
		client, err := (&awsClients{}).s3(ctx)
		if err != nil {
			return fail(err)
		}
		s3, err := sink.NewS3(client, s)
		if err != nil {
			return fail(fmt.Errorf("RESULTS_SINK: %w", err))
		}
		p.Sink = s3
	default:
		f, err := sink.NewFolder(s)
		if err != nil {
			return fail(fmt.Errorf("RESULTS_SINK: %w", err))
		}
		p.Sink = f
	}
	jc.Sink = p.Sink

	if pc.ForwardURL != "" {
		f, err := notify.NewForward(pc.ForwardURL, pc.ForwardSecret, nil)
		if err != nil {
			return fail(err)
		}
		jc.Notifiers = append(jc.Notifiers, f)
	}
	if pc.SlackWebhookURL != "" {
		s, err := notify.NewSlack(pc.SlackWebhookURL, nil)
		if err != nil {
			return fail(err)
		}
		jc.Notifiers = append(jc.Notifiers, s)
	}
	var err error
	if p.Jobs, err = core.NewJobs(jc); err != nil {
		return fail(err)
	}

	if boltStore != nil {
		if p.Tasks, err = bolt.NewTasks(boltStore.DB()); err != nil {
			return fail(err)
		}
		p.workerOptions = core.WorkerOptions{
			Tasks: p.Tasks, DeadLetters: dead, Logger: log,
			MaxAttempts: pc.MaxAttempts, RetryBackoff: pc.RetryBackoff,
		}
	}
	return p, nil
}

// StartWorker runs the embedded worker on the local queue, processing with
// proc, until Close; it resumes the tasks a crash left. Without a local
// queue (not the file store) it does nothing and Worker stays nil.
func (p *Processing) StartWorker(ctx context.Context, proc core.Processor) error {
	if p.Tasks == nil || p.Worker != nil {
		return nil
	}
	o := p.workerOptions
	o.Processor = proc
	w, err := core.NewWorker(o)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); w.Run(wctx) }()
	p.Worker = w
	p.closers = append(p.closers, func() error { cancel(); <-done; return nil })
	return nil
}

// Close stops the worker (attempts in flight are put back) and the clients.
func (p *Processing) Close() error {
	var errs []error
	for i := len(p.closers) - 1; i >= 0; i-- {
		errs = append(errs, p.closers[i]())
	}
	p.closers = nil
	return errors.Join(errs...)
}

// sourceFetcher opens files/… through the Gemini API and gs://… through
// Cloud Storage.
type sourceFetcher struct {
	gemini  core.Fetcher // nil without an API key
	storage *lazyStorage
}

// CanFetch tells the job processor to skip, not retry, what it cannot open.
func (f *sourceFetcher) CanFetch(source string) error {
	if !strings.HasPrefix(source, "gs://") && f.gemini == nil {
		return errors.New("GEMINI_API_KEY is not set: the job is recorded, its output is not landed")
	}
	return nil
}

func (f *sourceFetcher) Fetch(ctx context.Context, source string) (*core.Download, error) {
	if strings.HasPrefix(source, "gs://") {
		c, err := f.storage.Client(ctx)
		if err != nil {
			return nil, err
		}
		g, err := sink.NewGCS(c, "gs://unused")
		if err != nil {
			return nil, err
		}
		return g.Fetch(ctx, source)
	}
	if f.gemini == nil {
		return nil, fmt.Errorf("fetch %s: GEMINI_API_KEY is not set", source)
	}
	return f.gemini.Fetch(ctx, source)
}

// lazyStorage builds the Cloud Storage client on first use (it looks for
// credentials, which a local server landing in a folder never needs). It
// honours STORAGE_EMULATOR_HOST.
type lazyStorage struct {
	once   sync.Once
	client *storage.Client
	err    error
}

func (l *lazyStorage) Client(ctx context.Context) (*storage.Client, error) {
	l.once.Do(func() {
		l.client, l.err = storage.NewClient(context.WithoutCancel(ctx))
		if l.err != nil {
			l.err = fmt.Errorf("cloud storage client: %w", l.err)
		}
	})
	return l.client, l.err
}

func (l *lazyStorage) Close() error {
	if l.client != nil {
		return l.client.Close()
	}
	return nil
}
