package lambda_test

import (
	"context"
	"fmt"
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

// One bootstrap serves every event its function is wired to; DetectKind
// is how it tells them apart (deploy/aws checks its schedule's input with it).
func ExampleDetectKind() {
	for _, raw := range []string{
		`{"version":"2.0","requestContext":{"http":{"method":"POST"}},"headers":{},"body":"{}"}`,
		`{"version":"2.0","routeKey":"POST /webhook","requestContext":{"http":{"method":"POST"}},"body":"{}"}`,
		`{"Records":[{"eventSource":"aws:sqs","body":"{}"}]}`,
		`{"source":"aws.scheduler","detail-type":"Scheduled Event"}`,
		`{"httpMethod":"POST","body":"{}"}`,
	} {
		kind, err := lambda.DetectKind([]byte(raw))
		fmt.Println(kind, err != nil)
	}
	// Output:
	// function_url false
	// http_api false
	// sqs false
	// schedule false
	// unknown true
}
