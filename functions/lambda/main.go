// Command lambda is the AWS Lambda entry point: the `bootstrap` of a
// provided.al2023 function (arm64, CGO_ENABLED=0, -tags lambda.norpc). One
// binary serves Function URL / HTTP API deliveries and, later, SQS batches;
// adapters/lambda dispatches on the event's shape.
//
// Everything is built once, during the init phase: configuration, the
// signing secret (read from Secrets Manager when WEBHOOK_SIGNING_SECRET_ARN
// names it), and the clients wire.Build makes. Google clients connect lazily,
// so the first Firestore round trip happens on the first delivery.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	awslambda "github.com/aws/aws-lambda-go/lambda"
	lambdaadapter "github.com/geminiwebhooks/receiver/adapters/lambda"
	"github.com/geminiwebhooks/receiver/adapters/wire"
	"github.com/geminiwebhooks/receiver/core"
)

// The runtime calls Invoke with the raw event; a type that did not satisfy
// lambda.Handler would be rejected by lambda.Start only at run time.
var _ awslambda.Handler = (*lambdaadapter.Invoker)(nil)

func main() {
	// Lambda sends stdout to CloudWatch Logs; one JSON object per line.
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	inv, err := setup(context.Background(), os.Getenv, logger)
	if err != nil {
		// Exiting during init makes Lambda report Runtime.ExitError with this line in the log.
		logger.Error("init failed", "error", err.Error())
		os.Exit(1)
	}
	awslambda.Start(inv)
}

// setup turns the environment into the function's one handler.
func setup(ctx context.Context, getenv func(string) string, log *slog.Logger) (*lambdaadapter.Invoker, error) {
	if err := useWorkloadIdentity(getenv, os.TempDir(), os.Setenv); err != nil {
		return nil, err
	}
	getenv, err := withSigningSecret(ctx, getenv, fetchSecretString)
	if err != nil {
		return nil, err
	}
	cfg, err := core.LoadConfig(getenv, "firestore")
	if err != nil {
		return nil, err
	}
	if cfg.Queue != "" {
		// Queued processing (SQS) arrives with a later issue; refuse rather than ignore it.
		return nil, fmt.Errorf("QUEUE %q: queued processing is not available in this function yet", cfg.Queue)
	}
	app, err := wire.Build(ctx, cfg, wire.Options{Logger: log, Getenv: getenv})
	if err != nil {
		return nil, err
	}
	// The app lives as long as the execution environment; Lambda ends the process.
	log.Info("init", "schemes", fmt.Sprint(cfg.Schemes()), "store", cfg.IdempotencyStore, "signing_secrets", len(cfg.SigningSecrets))
	return &lambdaadapter.Invoker{HTTP: app.Handler, Logger: log}, nil
}
