package wire

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/reconcile"
)

// ReconcileOptions are what a caller of App.Reconcile may change.
type ReconcileOptions struct {
	Since  time.Duration // 0: RECONCILE_SINCE (48 h)
	DryRun bool
	Logger *slog.Logger // nil: slog.Default()
}

// ErrNoGeminiAPI: the reconcile needs GEMINI_API_KEY.
var ErrNoGeminiAPI = errors.New("reconcile: GEMINI_API_KEY is not set: nothing can be read from the Gemini API")

// ReconcileConfig is the reconcile of this app: its Processor (the user's
// handlers behind the built-in actions), ledger and idempotency store, the
// Gemini API client as lister of batches and webhooks, RECEIVER_URL, and
// SLACK_WEBHOOK_URL for the webhooks' health problems.
func (a *App) ReconcileConfig(o ReconcileOptions) (reconcile.Config, error) {
	g := a.Processing.Gemini
	if g == nil {
		return reconcile.Config{}, ErrNoGeminiAPI
	}
	since := o.Since
	if since <= 0 {
		since = a.Config.ReconcileSince
	}
	var alert func(context.Context, []reconcile.Problem) error
	if sl := a.Processing.Slack; sl != nil {
		alert = func(ctx context.Context, ps []reconcile.Problem) error { return sl.Post(ctx, reconcile.AlertText(ps)) }
	}
	return reconcile.Config{
		Alert: alert, Runs: runLog(a.Store),
		Processor: a.Processor, Ledger: a.Processing.Ledger, Store: a.Store,
		Lister: g, Batches: g, Interactions: g, Webhooks: g,
		ContinueTools: a.tools,
		ReceiverURLs:  a.Config.ReceiverURLs,
		Since:         since, DryRun: o.DryRun, Logger: o.Logger,
		TTL: a.Config.IdempotencyTTL,
	}, nil
}

// Reconcile runs one reconcile (core/reconcile.Run) with ReconcileConfig.
func (a *App) Reconcile(ctx context.Context, o ReconcileOptions) (reconcile.Summary, error) {
	c, err := a.ReconcileConfig(o)
	if err != nil {
		return reconcile.Summary{}, err
	}
	return reconcile.Run(ctx, c)
}

// runLog is where the store keeps the reconcile's last run (the file and
// Firestore do); nil for the memory store, which forgets it anyway.
func runLog(s core.Store) reconcile.RunLog {
	r, _ := s.(reconcile.RunLog)
	return r
}
