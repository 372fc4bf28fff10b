package reconcile_test

import (
	"context"
	"fmt"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
	"github.com/geminiwebhooks/receiver/core/reconcile"
)

// Run feeds what the webhooks missed through the same processor as a
// delivery: here a batch the API lists as cancelled that the ledger never
// heard of. In a runtime, wire.App.Reconcile builds the Config.
func ExampleRun() {
	a := &api{batches: map[string]jobs.BatchStatus{
		"batches/missed": {Name: "batches/missed", APIState: "JOB_STATE_CANCELLED", State: jobs.JobCancelled},
	}, created: time.Now()}
	actions, _ := jobs.New(jobs.Config{Ledger: jobs.NewMemoryLedger(0), Batches: a, Logger: quiet})
	mux := core.NewMux().On(core.BatchCancelled, func(_ context.Context, ev *core.Event) error {
		fmt.Println("handler:", ev.Type, ev.JobID(), ev.Delivery.ID)
		return nil
	})
	s, err := reconcile.Run(context.Background(), reconcile.Config{
		Processor: mux.With(actions.Middleware), Ledger: actions.Ledger(), Lister: a, Batches: a, Logger: quiet,
	})
	fmt.Println(s.Seen, s.Applied, err)
	// Output:
	// handler: batch.cancelled batches/missed reconcile:batches/missed:cancelled
	// 1 1 <nil>
}
