// Package wire builds the receiver from configuration: the one place where
// entry points (local, Cloud Function, Lambda) turn environment into clients.
// Every client is built once per process and handed to core.
package wire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/geminiwebhooks/receiver/adapters/bolt"
	"github.com/geminiwebhooks/receiver/core"
)

// DefaultStatePath is where the local file store lives, relative to the working directory.
const DefaultStatePath = ".gemini-webhooks/state.db"

// App is a built receiver and what it holds open.
type App struct {
	Config      core.Config
	Handler     *core.Handler
	Router      *core.Router
	Store       core.Store
	Processing  *Processing // job ledger, sink, local queue (processing.go)
	Queue       core.Queue  // where the handler sends events (QUEUE, or the local queue); nil: inline
	DeadLetters core.DeadLetters
	closers     []func() error

	log    *slog.Logger
	getenv func(string) string
}

// Options are what an entry point adds to the configuration.
type Options struct {
	Logger *slog.Logger
	// Router receives events; nil means a router whose default handler is
	// the job processor (ledger, landing, notifications).
	Router *core.Router
	// Getenv reads the processing variables (processing.go); nil: os.Getenv.
	Getenv func(string) string
}

// Build turns cfg into a ready handler. Nothing here waits on the network:
// the JWKS loads in the background, cloud clients connect lazily.
func Build(ctx context.Context, cfg core.Config, o Options) (*App, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	app := &App{Config: cfg, Router: o.Router, log: o.Logger, getenv: o.Getenv}
	pc, err := LoadProcessing(o.Getenv, cfg)
	if err != nil {
		return nil, err
	}

	verifier, err := BuildVerifier(ctx, cfg, o.Logger)
	if err != nil {
		return nil, err
	}
	store, dead, closer, err := BuildStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	app.Store, app.DeadLetters = store, dead
	if closer != nil {
		app.closers = append(app.closers, closer)
	}
	if app.Processing, err = BuildProcessing(ctx, cfg, pc, store, dead, o.Logger); err != nil {
		app.Close()
		return nil, err
	}
	app.closers = append(app.closers, app.Processing.Close)
	if app.Router == nil {
		app.Router = core.NewRouter().Default(app.Processing.Jobs.Process)
	}
	// QUEUE hands events to a cloud queue (202; queue.go). Without it the
	// local server hands them to the embedded worker through the durable
	// queue (202), and elsewhere they are processed inline (200).
	queue, closeQueue, err := BuildQueue(ctx, cfg)
	if err != nil {
		app.Close()
		return nil, err
	}
	if closeQueue != nil {
		app.closers = append(app.closers, closeQueue)
	}
	if queue == nil {
		if err := app.Processing.StartWorker(ctx, app.Router); err != nil {
			app.Close()
			return nil, err
		}
		if app.Processing.Worker != nil {
			queue = app.Processing.Worker
		}
	}
	app.Queue = queue
	app.Handler, err = core.NewHandler(core.Options{
		Verifier:     verifier,
		Store:        store,
		DeadLetters:  dead,
		Processor:    app.Router,
		Queue:        queue,
		Logger:       o.Logger,
		MaxBodyBytes: cfg.MaxBodyBytes,
		TTL:          cfg.IdempotencyTTL,
	})
	if err != nil {
		app.Close()
		return nil, err
	}
	return app, nil
}

// Close releases what Build opened.
func (a *App) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	return errors.Join(errs...)
}

// BuildVerifier turns on the schemes the configuration names.
func BuildVerifier(ctx context.Context, cfg core.Config, log *slog.Logger) (core.Verifier, error) {
	var v core.SchemeVerifier
	if len(cfg.SigningSecrets) > 0 {
		s, err := core.NewStaticVerifier(cfg.SigningSecrets, cfg.Tolerance)
		if err != nil {
			return nil, err
		}
		v.Static = s
	}
	if cfg.Audience != "" {
		jwks := core.NewJWKS(ctx, cfg.JWKSURL, core.JWKSOptions{Logger: log})
		d, err := core.NewDynamicVerifier(core.DynamicConfig{
			Audience: cfg.Audience, Issuer: cfg.Issuer, Tolerance: cfg.Tolerance, Keys: jwks,
		})
		if err != nil {
			return nil, err
		}
		v.Dynamic = d
	}
	if v.Static == nil && v.Dynamic == nil {
		return nil, errors.New("no signature scheme configured: set WEBHOOK_SIGNING_SECRET and/or WEBHOOK_AUDIENCE")
	}
	return v, nil
}

// BuildStore opens the idempotency store named by IDEMPOTENCY_STORE.
func BuildStore(ctx context.Context, cfg core.Config) (core.Store, core.DeadLetters, func() error, error) {
	switch cfg.IdempotencyStore {
	case "memory":
		m := core.NewMemoryStore(cfg.MemoryStoreLimit)
		return m, m, nil, nil
	case "file":
		path := cfg.StatePath
		if path == "" {
			path = DefaultStatePath
		}
		s, err := bolt.Open(path)
		if err != nil {
			return nil, nil, nil, err
		}
		return s, s, s.Close, nil
	case "firestore":
		return buildFirestore(ctx, cfg)
	}
	return nil, nil, nil, fmt.Errorf("IDEMPOTENCY_STORE %q: want memory, file or firestore", cfg.IdempotencyStore)
}
