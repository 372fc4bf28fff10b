// Package gcp is the Cloud Function (gen2) entry point: it registers the
// HTTP function GeminiWebhook with the Functions Framework. It is wiring
// only: configuration comes from the environment (DESIGN.md §4, Firestore
// store by default) and the receiver is core's handler, built by wire.
//
// The Go buildpack cannot build this package where it lives (it builds only
// a non-main package at the root of --source); deploy/gcp/deploy.sh stages
// a copy whose generated root package blank-imports this one.
package gcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/geminiwebhooks/receiver/adapters/wire"
	"github.com/geminiwebhooks/receiver/core"
)

// EntryPoint is the function's name: FUNCTION_TARGET and --entry-point.
const EntryPoint = "GeminiWebhook"

func init() {
	functions.HTTP(EntryPoint, New(os.Getenv, NewLogger(os.Stdout)).ServeHTTP)
}

// errNoScheme is a configuration error caught before any delivery arrives.
var errNoScheme = errors.New("no signature scheme configured: set WEBHOOK_SIGNING_SECRET and/or WEBHOOK_AUDIENCE")

// buildFunc builds the receiver; ctx lives as long as what it builds (the
// JWKS refresh goroutine), so it is never a request's context.
type buildFunc func(ctx context.Context, cfg core.Config, getenv func(string) string, log *slog.Logger) (*wire.App, error)

func wireBuild(ctx context.Context, cfg core.Config, getenv func(string) string, log *slog.Logger) (*wire.App, error) {
	return wire.Build(ctx, cfg, wire.Options{Logger: log, Getenv: getenv})
}

// Function serves GeminiWebhook. The configuration is read once, at
// start-up, because it cannot change during the process's life; the
// receiver is built once, on the first delivery, so that a cold start makes
// no network call (credential discovery, the JWKS) before it must.
type Function struct {
	getenv func(string) string
	cfg    core.Config
	cfgErr error
	log    *slog.Logger
	build  buildFunc

	app lazy[wire.App]
}

// New reads the configuration through getenv. A bad configuration does not
// stop the process: the Functions Framework would then crash-loop with one
// easily missed line. Instead it is logged now, at ERROR, and every delivery
// is answered 500, so Gemini keeps retrying (24 h) and nothing is lost while
// an operator redeploys a fixed configuration.
func New(getenv func(string) string, log *slog.Logger) *Function {
	return newFunction(getenv, log, wireBuild)
}

func newFunction(getenv func(string) string, log *slog.Logger, build buildFunc) *Function {
	f := &Function{getenv: getenv, log: log, build: build}
	f.cfg, f.cfgErr = core.LoadConfig(getenv, "firestore")
	if f.cfgErr == nil && len(f.cfg.Schemes()) == 0 {
		f.cfgErr = errNoScheme
	}
	if f.cfgErr == nil {
		// What wire.Build would reject later, reject now, where it is seen.
		_, f.cfgErr = wire.LoadProcessing(getenv, f.cfg)
	}
	if f.cfgErr == nil {
		_, _, f.cfgErr = wire.ParseQueue(f.cfg.Queue)
	}
	if f.cfgErr != nil {
		log.Error(EntryPoint+" is misconfigured: every delivery is answered 500 until it is redeployed with a fixed configuration (Gemini retries for 24 h)",
			"error", f.cfgErr.Error())
	}
	return f
}

// ServeHTTP is the registered function.
func (f *Function) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, status, reason := f.handler()
	if h != nil {
		h.ServeHTTP(w, r)
		return
	}
	if r.Method != http.MethodPost {
		// Not a delivery: answer what the receiver would, without building it.
		status, reason = http.StatusMethodNotAllowed, "method not allowed"
		w.Header().Set("Allow", http.MethodPost)
	}
	f.log.LogAttrs(r.Context(), slog.LevelError, "delivery",
		slog.String("webhook_id", r.Header.Get("webhook-id")), // unverified: for correlation only
		slog.String("outcome", string(core.OutcomeFailed)),
		slog.Int("status", status),
		slog.String("reason", reason),
	)
	body, _ := json.Marshal(map[string]string{"outcome": string(core.OutcomeFailed), "reason": reason})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// handler returns the built receiver, building it on first use. A build
// failure is answered 503 and retried by the next delivery: it may be
// transient, and until it succeeds Gemini's retries lose nothing.
func (f *Function) handler() (http.Handler, int, string) {
	if f.cfgErr != nil {
		return nil, http.StatusInternalServerError, "receiver misconfigured; see the start-up log"
	}
	app, err := f.app.get(func(ctx context.Context) (*wire.App, error) {
		start := time.Now()
		app, err := f.build(ctx, f.cfg, f.getenv, f.log)
		if err == nil {
			f.log.Info(EntryPoint+" ready",
				"schemes", fmt.Sprint(f.cfg.Schemes()),
				"store", f.cfg.IdempotencyStore,
				"firestore_collection", f.cfg.FirestoreCollection,
				"build_ms", time.Since(start).Milliseconds())
		}
		return app, err
	})
	if err != nil {
		f.log.Error(EntryPoint+": building the receiver failed; the next delivery retries", "error", err.Error())
		return nil, http.StatusServiceUnavailable, "receiver not ready"
	}
	return app.Handler, 0, ""
}

// Close releases what the built receiver holds. The platform never calls it
// (an instance just stops); tests and embedders do.
func (f *Function) Close() error {
	return f.app.close((*wire.App).Close)
}
