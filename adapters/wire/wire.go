// Package wire builds the receiver and its processing from a loaded
// configuration (adapters/env): the one place where a runtime adapter
// (adapters/gcf, adapters/lambda, adapters/local) turns configuration into
// clients. Every client is built once per process; nothing here waits on
// the network (the JWKS loads in the background, cloud clients connect
// lazily).
//
// wire links no cloud queue and no AWS SDK of its own: a runtime adapter
// passes the queues and sinks it can use in Options.Cloud, so a Cloud
// Function links no AWS SDK and a Lambda no Pub/Sub client.
package wire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/bolt"
	"github.com/geminiwebhooks/receiver/adapters/env"
	"github.com/geminiwebhooks/receiver/adapters/firestore"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
	"github.com/geminiwebhooks/receiver/core/tasks"
	"github.com/geminiwebhooks/receiver/core/verify"
)

// OpenQueue opens the queue QUEUE names (its target: a topic, a queue URL).
// The returned func, when not nil, closes it.
type OpenQueue func(ctx context.Context, target string) (core.Queue, func() error, error)

// OpenSink opens the results sink RESULTS_SINK names (gs://…, s3://…).
type OpenSink func(ctx context.Context, uri string) (jobs.Sink, error)

// Cloud is what a runtime reaches beyond the process and Firestore: queues
// by QUEUE's kind (env.QueuePubSub, env.QueueSQS), sinks by RESULTS_SINK's
// scheme ("gs", "s3"; a folder is built in) and readers of batch outputs
// by their URI's scheme ("gs"; files/… go through the Gemini API).
type Cloud struct {
	Name    string // the runtime, for error messages: "Cloud Functions", "AWS Lambda"
	Queues  map[string]OpenQueue
	Sinks   map[string]OpenSink
	Sources map[string]jobs.Fetcher
	// Stores opens the backends IDEMPOTENCY_STORE may name beyond the
	// built-in ones (stores.go): "dynamodb" on AWS.
	Stores map[string]OpenStore
	// Close, when set, releases the clients behind these (Build's App.Close calls it).
	Close func() error
}

// Merge returns c with the queues, sinks, sources and stores of others added.
func (c Cloud) Merge(others ...Cloud) Cloud {
	out := Cloud{Name: c.Name, Queues: map[string]OpenQueue{}, Sinks: map[string]OpenSink{}, Sources: map[string]jobs.Fetcher{}, Stores: map[string]OpenStore{}}
	var closers []func() error
	for _, x := range append([]Cloud{c}, others...) {
		for k, v := range x.Queues {
			out.Queues[k] = v
		}
		for k, v := range x.Sinks {
			out.Sinks[k] = v
		}
		for k, v := range x.Sources {
			out.Sources[k] = v
		}
		for k, v := range x.Stores {
			out.Stores[k] = v
		}
		if x.Close != nil {
			closers = append(closers, x.Close)
		}
	}
	if len(closers) > 0 {
		out.Close = func() error {
			var errs []error
			for _, f := range closers {
				errs = append(errs, f())
			}
			return errors.Join(errs...)
		}
	}
	return out
}

// Options are what a runtime adapter adds to the configuration.
type Options struct {
	Logger *slog.Logger // nil: slog.Default()
	Cloud  Cloud
	// LocalQueue processes events through the durable queue in the file
	// store (the local server's 202) when QUEUE is unset.
	LocalQueue bool
}

// App is a built receiver and what it holds open.
type App struct {
	Config env.Config
	// Receiver serves deliveries; nil when no signature scheme is
	// configured (a worker-only process).
	Receiver *core.Receiver
	// Processor is the user's mux behind the built-in actions: what the
	// receiver (inline), the local queue and the queue workers run.
	Processor   core.Processor
	Store       core.Store
	DeadLetters core.DeadLetters
	Processing  *Processing
	// Runner runs a task a cloud queue delivered (GeminiWorker, the
	// Lambda's SQS records).
	Runner *tasks.Runner
	// Queue is where the receiver sends events (QUEUE, or the local
	// queue); nil: processed inline.
	Queue core.Queue

	closers []func() error
	tools   bool // the mux registers tools (the reconcile continues interactions)
}

// ErrNoScheme: no signature scheme is configured, so the process can only
// work a queue.
var ErrNoScheme = errors.New("no signature scheme configured: set WEBHOOK_SIGNING_SECRET and/or WEBHOOK_AUDIENCE")

// Build builds everything cfg names around mux (nil: core.NewMux()).
func Build(ctx context.Context, cfg env.Config, mux *core.Mux, o Options) (*App, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if mux == nil {
		mux = core.NewMux()
	}
	app := &App{Config: cfg}
	if o.Cloud.Close != nil {
		app.closers = append(app.closers, o.Cloud.Close)
	}
	fail := func(err error) (*App, error) {
		app.Close()
		return nil, err
	}
	backend, err := OpenBackendIn(ctx, cfg, o.Cloud)
	if err != nil {
		return nil, err
	}
	store, dead := backend.Store, backend.DeadLetters
	app.Store, app.DeadLetters = store, dead
	app.closers = append(app.closers, backend.Close)
	if app.Processing, err = BuildProcessing(ctx, cfg, o.Cloud, backend, o.Logger); err != nil {
		return fail(err)
	}
	app.closers = append(app.closers, app.Processing.Close)
	app.tools = mux.Tools() != nil
	if app.tools && app.Processing.Gemini == nil && cfg.QueueKind == "" {
		// Said once, here; each such event's line says it too. (A receiver
		// that only queues, with QUEUE, leaves the tools to its worker.)
		o.Logger.Warn("the mux registers tools but GEMINI_API_KEY is not set: interaction.requires_action reaches the handlers, no tool runs and nothing is continued")
	}
	// The built-in actions run first, then the user's handlers.
	app.Processor = mux.With(app.Processing.Jobs.Middleware)
	// The runner holds each task's claim in the same store as the
	// deliveries' (tasks.TaskKey), so a replayed dead letter and a live
	// worker never both run a delivery's handlers.
	app.Runner = &tasks.Runner{Processor: app.Processor, DeadLetters: dead, Logger: o.Logger, Claims: store, ClaimTTL: cfg.IdempotencyTTL}

	if cfg.QueueKind != "" {
		open := o.Cloud.Queues[cfg.QueueKind]
		if open == nil {
			return fail(fmt.Errorf("QUEUE %s: %s cannot use a %s queue", cfg.Queue, o.Cloud.Name, cfg.QueueKind))
		}
		q, closeQueue, err := open(ctx, cfg.QueueTarget)
		if err != nil {
			return fail(fmt.Errorf("QUEUE: %w", err))
		}
		if closeQueue != nil {
			app.closers = append(app.closers, closeQueue)
		}
		app.Queue = q
	} else if o.LocalQueue {
		if err := app.Processing.StartLocalQueue(ctx, app.Processor, cfg); err != nil {
			return fail(err)
		}
		if app.Processing.Local != nil {
			// The file store takes the claim in the task's own transaction.
			app.Queue = app.Processing.Local.Intake()
		}
	}
	if len(cfg.Schemes()) == 0 {
		return app, nil
	}
	verifier, err := BuildVerifier(ctx, cfg, o.Logger)
	if err != nil {
		return fail(err)
	}
	// The file store counts deliveries by outcome for status; in the clouds
	// the delivery line is the count (EMF, log-based metrics), so nothing
	// is added to a delivery's round trips there.
	var observer core.DeliveryObserver
	if fs, ok := store.(*bolt.Store); ok {
		counts := bolt.NewOutcomes(fs, 0)
		app.closers = append(app.closers, counts.Close) // closed before the file
		observer = counts
	}
	app.Receiver, err = core.NewReceiver(core.ReceiverOptions{
		Observer:     observer,
		Verifier:     verifier,
		Store:        store,
		DeadLetters:  dead,
		Processor:    app.Processor,
		Queue:        app.Queue,
		Logger:       o.Logger,
		MaxBodyBytes: cfg.MaxBodyBytes,
		TTL:          cfg.IdempotencyTTL,
	})
	if err != nil {
		return fail(err)
	}
	return app, nil
}

// Close releases what Build opened.
func (a *App) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	a.closers = nil
	return errors.Join(errs...)
}

// BuildVerifier turns on the schemes the configuration names, as
// core/verify does for a user's own server (one construction for both).
func BuildVerifier(ctx context.Context, cfg env.Config, log *slog.Logger) (core.Verifier, error) {
	v, err := verify.New(ctx, verify.Config{
		Secrets:   cfg.SigningSecrets,
		Audience:  cfg.Audience,
		JWKSURL:   cfg.JWKSURL,
		Issuer:    cfg.Issuer,
		Tolerance: cfg.Tolerance,
		Logger:    log,
	})
	if errors.Is(err, verify.ErrNoScheme) {
		return nil, ErrNoScheme // names the variables
	}
	if err != nil {
		return nil, err
	}
	return v.Schemes(), nil
}

// Backend is where IDEMPOTENCY_STORE keeps everything: the idempotency
// records, the dead letters, the job ledger and (the file store only) the
// local queue's tasks, in one database.
type Backend struct {
	Store       core.Store
	DeadLetters core.DeadLetters
	Ledger      jobs.Ledger
	Tasks       tasks.Store // nil: the store keeps no queue
	Close       func() error
}

// OpenBackend opens the backend IDEMPOTENCY_STORE names. The Firestore
// client honours FIRESTORE_EMULATOR_HOST and connects lazily.
func OpenBackend(ctx context.Context, cfg env.Config) (*Backend, error) {
	switch cfg.IdempotencyStore {
	case "memory":
		limit := cfg.MemoryStoreLimit
		if limit == 0 {
			limit = env.MemoryStoreLimit()
		}
		m := core.NewMemoryStore(limit)
		return &Backend{Store: m, DeadLetters: m, Ledger: jobs.NewMemoryLedger(limit), Close: func() error { return nil }}, nil
	case "file":
		s, err := bolt.Open(cfg.StatePath)
		if err != nil {
			return nil, err
		}
		b := &Backend{Store: s, DeadLetters: s, Close: s.Close}
		if b.Ledger, err = bolt.NewLedger(s.DB()); err == nil {
			b.Tasks, err = bolt.NewTasks(s.DB())
		}
		if err != nil {
			s.Close()
			return nil, err
		}
		return b, nil
	case "firestore":
		if err := checkEmulator(ctx, cfg.FirestoreEmulatorHost); err != nil {
			return nil, err
		}
		s, err := firestore.New(ctx, firestore.Config{
			ProjectID:  cfg.GoogleCloudProject,
			DatabaseID: cfg.FirestoreDatabase,
			Collection: cfg.FirestoreCollection,
		})
		if err != nil {
			return nil, err
		}
		l, err := firestore.NewLedger(ctx, firestore.LedgerConfig{Client: s.FirestoreClient(), Collection: cfg.JobsCollection})
		if err != nil {
			s.Close()
			return nil, err
		}
		return &Backend{Store: s, DeadLetters: s, Ledger: l, Close: s.Close}, nil
	}
	return nil, fmt.Errorf("IDEMPOTENCY_STORE %q: want memory, file or firestore here (dynamodb needs the AWS adapters: OpenBackendIn)", cfg.IdempotencyStore)
}

// EmulatorDialTimeout bounds the start-up check of FIRESTORE_EMULATOR_HOST.
const EmulatorDialTimeout = 2 * time.Second

// checkEmulator dials FIRESTORE_EMULATOR_HOST once, when it is set, so that
// a mistyped or stopped emulator is reported at start rather than as a
// deadline on the first delivery. A real Firestore is never dialled here:
// its client connects lazily.
func checkEmulator(ctx context.Context, host string) error {
	if host == "" {
		return nil
	}
	d := net.Dialer{Timeout: EmulatorDialTimeout}
	c, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return fmt.Errorf("FIRESTORE_EMULATOR_HOST %s is unreachable (is the emulator running? unset the variable to use the real Firestore): %w", host, err)
	}
	return c.Close()
}
