package local

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/internal/admin"
	"github.com/geminiwebhooks/receiver/adapters/internal/env"
	"github.com/geminiwebhooks/receiver/adapters/internal/wire"
	"github.com/geminiwebhooks/receiver/core"
)

// The reconcile, locally (core/reconcile), the binary's reconcile
// subcommand:
//
//	BINARY reconcile [--since 48h] [--dry-run]
//
// While the server runs, the command asks it (its admin listener), so the
// server's own mux, ledger and store do the work; otherwise it builds the
// same app around the same mux and runs it in the command. The server also
// runs it by itself every reconcile.Interval.

// reconcileUsage is the subcommand's line in the usage.
const reconcileUsage = `reconcile [--since 48h] [--dry-run]   ask the Gemini API for what webhooks missed (GEMINI_API_KEY)`

// reconcileTimeout bounds one run started from the command line or the loop.
const reconcileTimeout = 14 * time.Minute

// reconcileCommand runs the reconcile subcommand; it returns the exit code:
// 0 done (webhook problems are logged at ERROR, and listed in the summary),
// 1 failed, 2 a usage or configuration mistake.
func reconcileCommand(ctx context.Context, name string, mux *core.Mux, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reconcile", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	since := fs.Duration("since", 0, "list batches created or updated this long ago at most (0: RECONCILE_SINCE, 48h)")
	dry := fs.Bool("dry-run", false, "report what would be applied; apply nothing")
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(stdout, "usage: %s %s\n", name, reconcileUsage)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return admin.ExitOK
	}
	if err == nil && (fs.NArg() != 0 || *since < 0) {
		err = errors.New("want reconcile [--since 48h] [--dry-run]")
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s reconcile: %v\n", name, err)
		return admin.ExitUsage
	}
	cfg, err := env.Load(getenv, env.Local)
	if err != nil {
		fmt.Fprintf(stderr, "%s reconcile: %v\n", name, err)
		return admin.ExitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, reconcileTimeout)
	defer cancel()
	var out json.RawMessage
	c, err := admin.DialServer(cfg)
	if err == nil {
		out, err = c.Reconcile(ctx, *since, *dry)
	} else if errors.Is(err, admin.ErrServerDown) {
		out, err = reconcileHere(ctx, cfg, mux, *since, *dry, stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s reconcile: %v\n", name, err)
		if errors.Is(err, wire.ErrNoGeminiAPI) {
			return admin.ExitUsage
		}
		return admin.ExitFailure
	}
	if err := admin.PrintJSONLine(stdout, out); err != nil { // the summary, the last line
		fmt.Fprintf(stderr, "%s reconcile: %v\n", name, err)
		return admin.ExitFailure
	}
	return admin.ExitOK
}

// reconcileHere builds the app (no listener, no queue) and runs it.
func reconcileHere(ctx context.Context, cfg env.Config, mux *core.Mux, since time.Duration, dry bool, stdout io.Writer) (json.RawMessage, error) {
	logger := slog.New(slog.NewJSONHandler(stdout, nil))
	cl := cloud(cfg)
	cl.Name = "the local reconcile"
	app, err := wire.Build(ctx, cfg, mux, wire.Options{Logger: logger, Cloud: cl})
	if err != nil {
		return nil, err
	}
	defer app.Close()
	s, err := app.Reconcile(ctx, wire.ReconcileOptions{Since: since, DryRun: dry, Logger: logger})
	if err != nil {
		return nil, err // the summary line logged what was done
	}
	return json.Marshal(s)
}

// serveReconcile is the admin listener's POST /reconcile.
func serveReconcile(app *wire.App, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		since, err := time.ParseDuration(orZero(r.URL.Query().Get("since")))
		if err != nil || since < 0 {
			http.Error(w, "since: want a Go duration", http.StatusBadRequest)
			return
		}
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(reconcileTimeout + time.Minute))
		s, err := app.Reconcile(r.Context(), wire.ReconcileOptions{Since: since, DryRun: r.URL.Query().Get("dry_run") == "true", Logger: log})
		if errors.Is(err, wire.ErrNoGeminiAPI) {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		if err != nil {
			log.Warn("reconcile finished with an error", "error", err.Error())
		}
		reply(w, s, nil)
	}
}

func orZero(s string) string {
	if s == "" {
		return "0s"
	}
	return s
}

// reconcileLoop runs the reconcile every reconcile.Interval until ctx ends.
func reconcileLoop(ctx context.Context, app *wire.App, log *slog.Logger, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, min(reconcileTimeout, every))
		if _, err := app.Reconcile(rctx, wire.ReconcileOptions{Logger: log}); err != nil {
			log.Warn("scheduled reconcile finished with an error", "source", "reconcile", "error", err.Error())
		}
		cancel()
	}
}
