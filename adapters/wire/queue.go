package wire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/pubsub"
	"github.com/geminiwebhooks/receiver/adapters/sqs"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/tasks"
)

// Queue kinds QUEUE names (DESIGN.md §4).
const (
	QueuePubSub = "pubsub" // pubsub:projects/P/topics/T
	QueueSQS    = "sqs"    // sqs:https://sqs.REGION.amazonaws.com/ACCOUNT/NAME
)

// ParseQueue splits QUEUE into its kind and target ("" and "" when unset).
func ParseQueue(s string) (kind, target string, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", "", nil
	}
	kind, target, _ = strings.Cut(s, ":")
	switch kind {
	case QueuePubSub:
		if _, err := pubsub.ParseTopic(target); err != nil {
			return "", "", fmt.Errorf("QUEUE: %w", err)
		}
	case QueueSQS:
		if _, err := sqs.New(nil, target); err != nil {
			return "", "", fmt.Errorf("QUEUE: %w", err)
		}
	default:
		return "", "", fmt.Errorf("QUEUE %q: want pubsub:projects/P/topics/T or sqs:<queue URL>", s)
	}
	return kind, target, nil
}

// BuildQueue opens the queue QUEUE names; nil when it is unset (events are
// then processed in the receiver's process). The returned func closes it.
func BuildQueue(ctx context.Context, cfg core.Config) (core.Queue, func() error, error) {
	kind, target, err := ParseQueue(cfg.Queue)
	if err != nil || kind == "" {
		return nil, nil, err
	}
	switch kind {
	case QueuePubSub:
		q, err := pubsub.New(ctx, target)
		if err != nil {
			return nil, nil, fmt.Errorf("QUEUE: %w", err)
		}
		return q, q.Close, nil
	default:
		client, err := (&awsClients{}).sqs(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("QUEUE: %w", err)
		}
		q, err := sqs.New(client, target)
		if err != nil {
			return nil, nil, err
		}
		return q, nil, nil
	}
}

// Worker is what a queue worker (GeminiWorker, the Lambda's SQS side)
// runs: the job processor behind the router, and the store that keeps
// the dead letters. It verifies nothing (the receiver did), so it needs
// no signing configuration.
type Worker struct {
	Config     core.Config
	Store      core.Store
	Router     *core.Mux
	Processing *Processing
	Runner     *tasks.Runner

	aws     *awsClients
	getenv  func(string) string
	log     *slog.Logger
	closers []func() error
}

// BuildWorker builds the worker from cfg: the idempotency store (for its
// dead letters and the job ledger beside it) and the processing. Like
// Build it waits on no network.
func BuildWorker(ctx context.Context, cfg core.Config, o Options) (*Worker, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	pc, err := LoadProcessing(o.Getenv, cfg)
	if err != nil {
		return nil, err
	}
	store, dead, closer, err := BuildStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	w := &Worker{Config: cfg, Store: store, Router: o.Router, aws: &awsClients{}, getenv: o.Getenv, log: o.Logger}
	if closer != nil {
		w.closers = append(w.closers, closer)
	}
	if w.Processing, err = BuildProcessing(ctx, cfg, pc, store, dead, o.Logger); err != nil {
		w.Close()
		return nil, err
	}
	w.closers = append(w.closers, w.Processing.Close)
	if w.Router == nil {
		w.Router = core.NewMux().Default(w.Processing.Jobs.Process)
	}
	w.Runner = &tasks.Runner{Processor: w.Router, DeadLetters: dead, Logger: o.Logger}
	return w, nil
}

// Worker is a queue worker sharing the app's store and processing, for a
// process that both receives and works (one Lambda function serving both
// event shapes). Closing the app closes what they share.
func (a *App) Worker() *Worker {
	return &Worker{
		Config: a.Config, Store: a.Store, Router: a.Router, Processing: a.Processing,
		Runner: &tasks.Runner{Processor: a.Router, DeadLetters: a.DeadLetters, Logger: a.log},
		aws:    &awsClients{}, getenv: a.getenv, log: a.log,
	}
}

// SQS is the Lambda's SQS batch handler. Failed records' next delivery is
// scheduled with the queue's client: RETRY_BACKOFF (when set) doubled per
// receive, else sqs.DefaultRetryDelay.
func (w *Worker) SQS(ctx context.Context) (*sqs.Worker, error) {
	client, err := w.aws.sqs(ctx)
	if err != nil {
		return nil, err
	}
	sw := &sqs.Worker{Runner: w.Runner, Client: client, Logger: w.log}
	if s := strings.TrimSpace(w.getenv("RETRY_BACKOFF")); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("RETRY_BACKOFF %q: want a positive Go duration such as 30s", s)
		}
		sw.RetryDelay = d
	}
	return sw, nil
}

// Close releases what BuildWorker opened.
func (w *Worker) Close() error {
	var errs []error
	for i := len(w.closers) - 1; i >= 0; i-- {
		errs = append(errs, w.closers[i]())
	}
	w.closers = nil
	return errors.Join(errs...)
}
