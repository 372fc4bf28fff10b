package wire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/geminiwebhooks/receiver/adapters/gemini"
	"github.com/geminiwebhooks/receiver/adapters/internal/env"
	"github.com/geminiwebhooks/receiver/adapters/internal/notify"
	"github.com/geminiwebhooks/receiver/adapters/internal/sink"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
	"github.com/geminiwebhooks/receiver/core/tasks"
)

// Processing is what acts on events: the job processor, its ledger and,
// for the local server, the durable embedded queue and its worker.
type Processing struct {
	Jobs   *jobs.Actions
	Ledger jobs.Ledger
	Sink   jobs.Sink
	// Local is the local server's durable queue (nil elsewhere: events
	// are processed inline, or a cloud queue takes them).
	Local *tasks.Queue
	Tasks tasks.Store
	// Gemini is the Gemini API client (nil without GEMINI_API_KEY): the
	// reconcile lists batches and webhooks with it.
	Gemini *gemini.Client
	// Slack is SLACK_WEBHOOK_URL's client (nil when unset): the reconcile
	// posts webhook health problems to it.
	Slack *notify.Slack

	dead    core.DeadLetters
	log     *slog.Logger
	closers []func() error
}

// BuildProcessing builds the processing on an open backend: the built-in
// actions over its ledger, and (the file store) its local queue's tasks.
func BuildProcessing(ctx context.Context, cfg env.Config, cloud Cloud, b *Backend, log *slog.Logger) (*Processing, error) {
	p := &Processing{Ledger: b.Ledger, Tasks: b.Tasks, dead: b.DeadLetters, log: log}
	fail := func(err error) (*Processing, error) {
		p.Close()
		return nil, err
	}
	jc := jobs.Config{Ledger: p.Ledger, Logger: log, BusyRetry: cfg.RetryBackoff, MaxRounds: cfg.InteractionMaxRounds}
	var geminiFetcher jobs.Fetcher
	if cfg.GeminiAPIKey != "" {
		g, err := gemini.New(ctx, gemini.Config{APIKey: cfg.GeminiAPIKey, BaseURL: cfg.GeminiBaseURL})
		if err != nil {
			return fail(err)
		}
		jc.Batches, jc.Interactions, jc.Files, jc.Agent, geminiFetcher = g, g, g, g, g
		p.Gemini = g
	} else {
		jc.NoBatchesReason = "GEMINI_API_KEY is not set: the job is recorded, its output is neither confirmed with the Gemini API nor landed"
		log.Warn("GEMINI_API_KEY is not set: finished batches and videos are recorded in the job ledger but not landed")
		if cfg.Audience != "" {
			// Said once, here: each such delivery's own line says it too.
			log.Warn("GEMINI_API_KEY is not set: a dynamic delivery whose token binds no delivery (no id, jti or body digest claim) cannot be confirmed with the Gemini API; it is answered 200 and kept as a dead letter, not acted on: set GEMINI_API_KEY and replay the dead letters")
		}
	}
	jc.Fetcher = &sourceFetcher{gemini: geminiFetcher, sources: cloud.Sources, runtime: cloud.Name}

	switch s, scheme := cfg.ResultsSink, cfg.SinkKind(); scheme {
	case "":
		jc.NoSinkReason = "RESULTS_SINK is not set"
	case "file":
		f, err := sink.NewFolder(s)
		if err != nil {
			return fail(fmt.Errorf("RESULTS_SINK: %w", err))
		}
		p.Sink = f
	default:
		open := cloud.Sinks[scheme]
		if open == nil {
			return fail(fmt.Errorf("RESULTS_SINK %s: %s cannot land in %s://", s, cloud.Name, scheme))
		}
		sk, err := open(ctx, s)
		if err != nil {
			return fail(fmt.Errorf("RESULTS_SINK: %w", err))
		}
		p.Sink = sk
	}
	jc.Sink = p.Sink

	if cfg.ForwardURL != "" {
		f, err := notify.NewForward(cfg.ForwardURL, cfg.ForwardSecret, nil)
		if err != nil {
			return fail(err)
		}
		jc.Notifiers = append(jc.Notifiers, f)
	}
	if cfg.SlackWebhookURL != "" {
		s, err := notify.NewSlack(cfg.SlackWebhookURL, nil)
		if err != nil {
			return fail(err)
		}
		jc.Notifiers = append(jc.Notifiers, s)
		p.Slack = s
	}
	var err error
	if p.Jobs, err = jobs.New(jc); err != nil {
		return fail(err)
	}

	return p, nil
}

// StartLocalQueue runs the durable local queue, processing with proc,
// until Close; it resumes the tasks a crash left. Without a file store it
// does nothing and Local stays nil.
func (p *Processing) StartLocalQueue(ctx context.Context, proc core.Processor, cfg env.Config) error {
	// A backend's Tasks may only list (the admin's view of a server).
	qs, ok := p.Tasks.(tasks.QueueStore)
	if !ok || p.Local != nil {
		return nil
	}
	w, err := tasks.NewQueue(tasks.QueueOptions{
		Tasks: qs, DeadLetters: p.dead, Logger: p.log, Processor: proc,
		MaxAttempts: cfg.MaxAttempts, RetryBackoff: cfg.RetryBackoff,
	})
	if err != nil {
		return err
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); w.Run(wctx) }()
	p.Local = w
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

// sourceFetcher opens files/… through the Gemini API and other sources
// (gs://…) through the runtime's readers of their scheme.
type sourceFetcher struct {
	gemini  jobs.Fetcher // nil without an API key
	sources map[string]jobs.Fetcher
	runtime string
}

// CanFetch tells the job processor to skip, not retry, what it cannot open.
func (f *sourceFetcher) CanFetch(source string) error {
	if scheme, _, ok := strings.Cut(source, "://"); ok {
		if f.sources[scheme] == nil {
			return fmt.Errorf("%s cannot read %s:// outputs", f.runtime, scheme)
		}
		return nil
	}
	if f.gemini == nil {
		return errors.New("GEMINI_API_KEY is not set: the job is recorded, its output is not landed")
	}
	return nil
}

func (f *sourceFetcher) Fetch(ctx context.Context, source string) (*jobs.Download, error) {
	if scheme, _, ok := strings.Cut(source, "://"); ok {
		if r := f.sources[scheme]; r != nil {
			return r.Fetch(ctx, source)
		}
		return nil, fmt.Errorf("fetch %s: %s cannot read %s:// outputs", source, f.runtime, scheme)
	}
	if f.gemini == nil {
		return nil, fmt.Errorf("fetch %s: GEMINI_API_KEY is not set", source)
	}
	return f.gemini.Fetch(ctx, source)
}
