package webhooktest_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/geminiwebhooks/receiver/adapters/webhooktest"
	"github.com/geminiwebhooks/receiver/core"
)

// A handler that fails is retried: the delivery is answered 500 and its
// claim released, so Gemini's retry of it runs the handlers again. Runs
// lists both runs; handlers must therefore be idempotent per delivery.
func ExampleKit_Runs() {
	down := true
	mux := core.NewMux().On(core.BatchFailed, func(ctx context.Context, ev *core.Event) error {
		if down {
			down = false
			return errors.New("database down")
		}
		return nil
	})
	k, err := webhooktest.Start(mux)
	if err != nil {
		panic(err)
	}
	defer k.Close()

	ev := webhooktest.BatchFailed("batches/b1", "INTERNAL", "the batch failed")
	fmt.Println("delivery:", k.Deliver(ev).Status)
	fmt.Println("retry:", k.Deliver(ev).Status)
	for _, r := range k.Runs() {
		fmt.Println(r.DeliveryID == ev.ID, r.Type, r.JobID, r.Err)
	}
	// Output:
	// delivery: 500
	// retry: 200
	// true batch.failed batches/b1 database down
	// true batch.failed batches/b1 <nil>
}
