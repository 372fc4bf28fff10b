package gcf

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/internal/env"
	"github.com/geminiwebhooks/receiver/adapters/internal/wire"
	"github.com/geminiwebhooks/receiver/core"
)

// ReconcileEntryPoint is the reconcile's HTTP function: Cloud Scheduler
// calls it every 15 minutes with an OIDC token. It is deployed without
// --allow-unauthenticated, so Cloud Run's IAM (roles/run.invoker, given to
// the scheduler's service account on this function only) refuses any other
// caller before the code runs.
const ReconcileEntryPoint = "GeminiReconcile"

// reconcileTimeout bounds one run inside the function's own timeout
// (deploy.sh deploys GeminiReconcile with --timeout=540s); a run cut off
// resumes at the next.
const reconcileTimeout = 8 * time.Minute

// Reconciler serves GeminiReconcile: one reconcile (core/reconcile) per
// POST, with the same mux, ledger and store as GeminiWebhook.
type Reconciler struct {
	instance
}

// NewReconciler reads the configuration through getenv; the reconcile runs
// mux behind the built-in actions. A bad configuration is logged at ERROR
// now and every call is answered 500.
func NewReconciler(getenv func(string) string, log *slog.Logger, mux *core.Mux) *Reconciler {
	return newReconciler(getenv, log, mux, wireBuild)
}

func newReconciler(getenv func(string) string, log *slog.Logger, mux *core.Mux, build buildFunc) *Reconciler {
	r := &Reconciler{}
	r.load(ReconcileEntryPoint, getenv, log, mux, build, func(c env.Config) error {
		if c.GeminiAPIKey == "" {
			return wire.ErrNoGeminiAPI
		}
		return nil
	}, "every run is answered 500")
	return r
}

// ServeHTTP runs one reconcile and answers its summary (200), or 500 when
// it could not run or its listing failed (Cloud Scheduler logs the failure;
// the next run resumes). A body {"gemini_webhooks_replay": KEY}
// (wire.ReplayRequest, what the admin CLI's deadletters replay sends when
// QUEUE is unset) replays that dead letter here instead, with the user's
// handlers, and answers a wire.ReplayResult: 200, 404 for no such key,
// 500 when its delivery failed again (the dead letter stays).
func (r *Reconciler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.cfgErr != nil {
		http.Error(w, "reconcile misconfigured; see the start-up log", http.StatusInternalServerError)
		return
	}
	app, err := r.get()
	if err != nil {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	var rr wire.ReplayRequest
	if body, _ := io.ReadAll(io.LimitReader(req.Body, 64<<10)); len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &rr); err != nil {
			http.Error(w, "body: want none (a reconcile) or {\"gemini_webhooks_replay\": KEY}", http.StatusBadRequest)
			return
		}
	}
	if rr.Replay != "" {
		res, err := app.ReplayDeadLetter(req.Context(), rr.Replay)
		switch {
		case errors.Is(err, core.ErrNoDeadLetter):
			http.Error(w, err.Error(), http.StatusNotFound)
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		default:
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(res)
		}
		return
	}
	ctx, cancel := context.WithTimeout(req.Context(), reconcileTimeout)
	defer cancel()
	s, err := app.Reconcile(ctx, wire.ReconcileOptions{Logger: r.log})
	status := http.StatusOK
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		status = http.StatusInternalServerError
	}
	b, _ := json.Marshal(s)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
