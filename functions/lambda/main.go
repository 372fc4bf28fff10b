// Command lambda is the AWS Lambda entry point: the `bootstrap` of a
// provided.al2023 function (arm64, CGO_ENABLED=0, -tags lambda.norpc). One
// binary serves Function URL / HTTP API deliveries and SQS batches (the
// worker); adapters/lambda dispatches on the event's shape.
//
// Everything is built once, during the init phase: configuration, the
// signing secret (read from Secrets Manager when WEBHOOK_SIGNING_SECRET_ARN
// names it), and the clients wire.Build makes. Google clients connect lazily,
// so the first Firestore round trip happens on the first delivery.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
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

// setup turns the environment into the function's one handler. It serves
// both event shapes (DESIGN.md §4): HTTP deliveries when a signature scheme
// is configured (with QUEUE=sqs:… it answers 202 once the event is on the
// queue), and SQS batches always, through the same store and job processor.
// A function without a scheme is a worker: it says so at init and answers
// HTTP deliveries 500 (Gemini retries; nothing is lost).
func setup(ctx context.Context, getenv func(string) string, log *slog.Logger) (*lambdaadapter.Invoker, error) {
	if err := useWorkloadIdentity(getenv, os.TempDir(), os.Setenv); err != nil {
		return nil, err
	}
	getenv, err := withSigningSecret(ctx, getenv, fetchSecretString)
	if err != nil {
		return nil, err
	}
	if getenv, err = withGeminiAPIKey(ctx, getenv, fetchSecretString); err != nil {
		return nil, err
	}
	cfg, err := core.LoadConfig(getenv, "firestore")
	if err != nil {
		return nil, err
	}
	o := wire.Options{Logger: log, Getenv: getenv}
	var worker *wire.Worker
	inv := &lambdaadapter.Invoker{Logger: log}
	if len(cfg.Schemes()) > 0 {
		app, err := wire.Build(ctx, cfg, o)
		if err != nil {
			return nil, err
		}
		inv.HTTP, worker = app.Handler, app.Worker()
	} else {
		if worker, err = wire.BuildWorker(ctx, cfg, o); err != nil {
			return nil, err
		}
		inv.HTTP = noReceiver{log}
		log.Warn("no signature scheme configured: this function serves SQS batches only; HTTP deliveries are answered 500",
			"hint", "set WEBHOOK_SIGNING_SECRET_ARN (or WEBHOOK_SIGNING_SECRET) to receive deliveries")
	}
	if inv.SQS, err = worker.SQS(ctx); err != nil {
		return nil, err
	}
	// What is built lives as long as the execution environment; Lambda ends the process.
	log.Info("init", "schemes", fmt.Sprint(cfg.Schemes()), "store", cfg.IdempotencyStore, "signing_secrets", len(cfg.SigningSecrets),
		"queue", cfg.Queue, "results_sink", cfg.ResultsSink)
	return inv, nil
}

// errNoScheme is why a worker-only function refuses HTTP deliveries.
var errNoScheme = errors.New("no signature scheme configured: set WEBHOOK_SIGNING_SECRET_ARN or WEBHOOK_SIGNING_SECRET")

// noReceiver answers the HTTP deliveries that reach a worker-only function,
// with the delivery log line the receiver would write.
type noReceiver struct{ log *slog.Logger }

func (n noReceiver) Handle(ctx context.Context, req core.Request) core.Response {
	n.log.LogAttrs(ctx, slog.LevelError, "delivery",
		slog.String("webhook_id", req.Header.Get("webhook-id")), // unverified: for correlation only
		slog.String("outcome", string(core.OutcomeFailed)), slog.Int("status", http.StatusInternalServerError),
		slog.String("reason", errNoScheme.Error()))
	body, _ := json.Marshal(map[string]string{"outcome": string(core.OutcomeFailed), "reason": errNoScheme.Error()})
	return core.Response{Status: http.StatusInternalServerError, Outcome: core.OutcomeFailed, Reason: errNoScheme.Error(), Body: body}
}
