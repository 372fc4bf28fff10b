package reconcile_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
	"github.com/geminiwebhooks/receiver/core/reconcile"
)

// A handler run by the reconcile logs with the reconcile's logger through
// core.Logger(ctx), and what it adds with AddLineAttrs, with the mux's
// handlers and handler_ms, is on the event's reconcile line (the old
// reconcile dropped it).
func TestReconcileLineCarriesWhatHandlersAdd(t *testing.T) {
	a := &api{batches: map[string]jobs.BatchStatus{
		"batches/r1": {Name: "batches/r1", APIState: "JOB_STATE_CANCELLED", State: jobs.JobCancelled},
	}, created: time.Now()}
	p := pipeline(t, a)
	proc := core.NewMux().On(core.BatchCancelled, func(ctx context.Context, ev *core.Event) error {
		core.Logger(ctx).Info("handler says")
		core.AddLineAttrs(ctx, slog.String("handler_saved", "yes"))
		return nil
	}).With(p.Middleware)
	var logs strings.Builder
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	cfg := reconcile.Config{Processor: proc, Ledger: p.Ledger(), Store: core.NewMemoryStore(0), Lister: a, Batches: a, Logger: log, Concurrency: 1}
	if _, err := reconcile.Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	var applied, said map[string]any
	for _, s := range strings.Split(logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(s), &m) != nil {
			continue
		}
		switch {
		case m["msg"] == "reconcile" && m["outcome"] == "applied":
			applied = m
		case m["msg"] == "handler says":
			said = m
		}
	}
	if applied == nil || applied["handler_saved"] != "yes" || applied["handlers"] != "ok" || applied["handler_ms"] == nil || applied["landing"] == nil {
		t.Errorf("reconcile line %v, want handler_saved, handlers, handler_ms and the ledger's landing in:\n%s", applied, logs.String())
	}
	if strings.Count(logs.String(), `"landing"`) > strings.Count(logs.String(), `"outcome":"applied"`) {
		t.Errorf("a key twice on the reconcile line:\n%s", logs.String())
	}
	if said == nil || said["job_id"] != "batches/r1" || said["event_type"] != core.BatchCancelled {
		t.Errorf("handler's line %v, want the event's job_id and type", said)
	}
}
