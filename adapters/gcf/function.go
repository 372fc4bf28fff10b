// Package gcf runs a mux as Google Cloud Functions (gen2) through the
// Functions Framework: Register registers the HTTP function GeminiWebhook
// (verify, claim, then process or publish to Pub/Sub), the CloudEvent
// function GeminiWorker (Pub/Sub trigger) and the HTTP function
// GeminiReconcile (Cloud Scheduler, OIDC; reconcile.go) from a user's init, as
// functions.HTTP is used:
//
//	func init() { gcf.Register(core.NewMux().On(core.BatchSucceeded, save)) }
//
// Configuration is the environment (README, Configuration; Firestore store
// by default), read once per process when Register is called; the
// receiver is built on the first request, so a cold start makes no network
// call before it must. deploy/gcp/deploy.sh --package DIR deploys the
// package that calls Register.
package gcf

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/geminiwebhooks/receiver/adapters/internal/env"
	"github.com/geminiwebhooks/receiver/adapters/internal/gcs"
	"github.com/geminiwebhooks/receiver/adapters/internal/pubsub"
	"github.com/geminiwebhooks/receiver/adapters/internal/wire"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/verify"
)

// EntryPoint is the HTTP function's name: FUNCTION_TARGET and --entry-point.
const EntryPoint = "GeminiWebhook"

// Register registers GeminiWebhook, GeminiWorker and GeminiReconcile, all
// running mux behind the built-in actions (nil: core.NewMux()). Call it
// once, from an init function of the package that deploy.sh deploys. It
// installs a Cloud Logging JSON logger on stdout as slog.Default(), so that a handler's own
// lines (slog's functions, core.Logger(ctx)) reach Cloud Logging with
// their severity, and with the request's trace when logged with its context.
func Register(mux *core.Mux) {
	log := installLogger(os.Stdout)
	functions.HTTP(EntryPoint, newWebhook(env.Getenv, log, mux).ServeHTTP)
	functions.CloudEvent(WorkerEntryPoint, NewWorker(env.Getenv, log, mux).Handle)
	functions.HTTP(ReconcileEntryPoint, NewReconciler(env.Getenv, log, mux).ServeHTTP)
}

// installLogger makes newLogger(w) the process's slog.Default().
func installLogger(w io.Writer) *slog.Logger {
	log := newLogger(w)
	slog.SetDefault(log)
	return log
}

// cloud is what a Cloud Function can use beyond Firestore: a Pub/Sub
// queue and Cloud Storage (gs:// sink and outputs), with clients of its
// own, as cfg points them. No AWS SDK is linked.
func cloud(cfg env.Config) wire.Cloud {
	c := wire.GoogleCloud(pubsub.Publisher{EmulatorHost: cfg.PubSubEmulatorHost}.Open, &gcs.Clients{EmulatorHost: cfg.StorageEmulatorHost})
	c.Name = "Cloud Functions"
	return c
}

// buildFunc builds the app; ctx lives as long as what it builds (the
// JWKS refresh goroutine), so it is never a request's context.
type buildFunc func(ctx context.Context, cfg env.Config, mux *core.Mux, log *slog.Logger) (*wire.App, error)

func wireBuild(ctx context.Context, cfg env.Config, mux *core.Mux, log *slog.Logger) (*wire.App, error) {
	return wire.Build(ctx, cfg, mux, wire.Options{Logger: log, Cloud: cloud(cfg)})
}

// function serves GeminiWebhook: the receiver, built on the first
// delivery (instance).
type function struct {
	instance
}

// newWebhook reads the configuration through getenv; the function runs mux. A bad configuration does not
// stop the process: the Functions Framework would then crash-loop with one
// easily missed line. Instead it is logged now, at ERROR, and every delivery
// is answered 500, so Gemini keeps retrying (24 h) and nothing is lost while
// an operator redeploys a fixed configuration.
func newWebhook(getenv func(string) string, log *slog.Logger, mux *core.Mux) *function {
	return newFunction(getenv, log, mux, wireBuild)
}

func newFunction(getenv func(string) string, log *slog.Logger, mux *core.Mux, build buildFunc) *function {
	f := &function{}
	f.load(EntryPoint, getenv, log, mux, build, func(c env.Config) error {
		if len(c.Schemes()) == 0 {
			return wire.ErrNoScheme
		}
		if c.QueueKind != "" && c.QueueKind != env.QueuePubSub {
			return fmt.Errorf("QUEUE %s: Cloud Functions take pubsub:projects/P/topics/T", c.Queue)
		}
		if c.SinkKind() == "s3" {
			return fmt.Errorf("RESULTS_SINK %s: Cloud Functions land in gs:// buckets", c.ResultsSink)
		}
		return nil
	}, "every delivery is answered 500 (Gemini retries for 24 h)")
	return f
}

// ServeHTTP is the registered function.
func (f *function) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r = r.WithContext(withTrace(r.Context(), r, f.cfg.GoogleCloudProject))
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
	core.EventLine{Msg: core.LineDelivery, ID: core.PrintableID(r.Header.Get(verify.HeaderID)), Unverified: true, // for correlation only
		Outcome: core.OutcomeFailed, Status: status, Reason: reason}.Log(r.Context(), f.log)
	body, _ := json.Marshal(map[string]string{"outcome": string(core.OutcomeFailed), "reason": reason})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// handler returns the built receiver, building it on first use. A build
// failure is answered 503 and retried by the next delivery: until it
// succeeds Gemini's retries lose nothing.
func (f *function) handler() (http.Handler, int, string) {
	if f.cfgErr != nil {
		return nil, http.StatusInternalServerError, "receiver misconfigured; see the start-up log"
	}
	app, err := f.get()
	if err != nil {
		return nil, http.StatusServiceUnavailable, "receiver not ready"
	}
	return app.Receiver, 0, ""
}
