package gcf

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/internal/env"
	"github.com/geminiwebhooks/receiver/adapters/internal/wire"
	"github.com/geminiwebhooks/receiver/core"
)

// instance is what GeminiWebhook, GeminiWorker and GeminiReconcile share:
// the configuration, read once at start-up because it cannot change during
// the process's life; its mistake, logged at ERROR then (a crash-looping
// process would show one easily missed line; a running one answers every
// call with the failure, so nothing is lost until a redeploy fixes it); and
// the app, built once on first use, so that a cold start makes no network
// call (credential discovery, the JWKS) before it must.
type instance struct {
	name   string
	cfg    env.Config
	cfgErr error
	log    *slog.Logger
	mux    *core.Mux
	build  buildFunc

	app lazy[wire.App]
}

// load reads the configuration through getenv and checks it with check
// (nil: none beyond env.Load's); misconfigured says what a mistake means
// for the callers of this function.
func (r *instance) load(name string, getenv func(string) string, log *slog.Logger, mux *core.Mux, build buildFunc, check func(env.Config) error, misconfigured string) {
	r.name, r.log, r.mux, r.build = name, log, mux, build
	r.cfg, r.cfgErr = env.Load(getenv, env.Serverless)
	if r.cfgErr == nil && check != nil {
		r.cfgErr = check(r.cfg)
	}
	// Every deployed function registers all three entry points (Register)
	// but serves only FUNCTION_TARGET: another's mistake (GeminiReconcile
	// without GEMINI_API_KEY in GeminiWebhook's environment) is no mistake
	// here, and logging it would fire the "misconfigured" alert at every
	// cold start. Unset (a local run of the framework): all are served.
	if target := r.cfg.FunctionTarget; r.cfgErr != nil && (target == "" || target == name) {
		log.Error(name+" is misconfigured: "+misconfigured+" until it is redeployed with a fixed configuration", "error", r.cfgErr.Error())
	}
}

// get returns the built app, building it on first use; a failed build is
// logged and retried by the next call (it may be transient).
func (r *instance) get() (*wire.App, error) {
	app, err := r.app.get(func(ctx context.Context) (*wire.App, error) {
		start := time.Now()
		app, err := r.build(ctx, r.cfg, r.mux, r.log)
		if err == nil {
			r.log.Info(r.name+" ready",
				"schemes", fmt.Sprint(r.cfg.Schemes()),
				"store", r.cfg.IdempotencyStore,
				"firestore_collection", r.cfg.FirestoreCollection,
				"results_sink", r.cfg.ResultsSink,
				"build_ms", time.Since(start).Milliseconds())
		}
		return app, err
	})
	if err != nil {
		r.log.Error(r.name+": building it failed; the next call retries", "error", err.Error())
		return nil, fmt.Errorf("%s not ready: %w", r.name, err)
	}
	return app, nil
}

// Close releases what the built app holds. The platform never calls it (an
// instance just stops); tests and embedders do.
func (r *instance) Close() error {
	return r.app.close((*wire.App).Close)
}
