package lambda_test

import (
	"context"
	"log/slog"

	"github.com/geminiwebhooks/receiver/adapters/lambda"
	"github.com/geminiwebhooks/receiver/core"
)

// A user's main, built as the bootstrap (deploy/aws): one binary serves
// Function URL deliveries and SQS batches.
func ExampleStart() {
	runTool := func(ctx context.Context, ev *core.Event) error {
		slog.InfoContext(ctx, "interaction needs a function call", "job_id", ev.JobID(), "delivery", ev.Delivery.ID)
		return nil
	}
	lambda.Start(core.NewMux().On(core.InteractionRequiresAction, runTool))
}
