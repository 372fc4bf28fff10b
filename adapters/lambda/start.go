package lambda

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"

	awslambda "github.com/aws/aws-lambda-go/lambda"

	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/geminiwebhooks/receiver/adapters/aws"
	"github.com/geminiwebhooks/receiver/adapters/env"
	"github.com/geminiwebhooks/receiver/adapters/sqs"
	"github.com/geminiwebhooks/receiver/adapters/wire"
	"github.com/geminiwebhooks/receiver/core"
)

// The runtime calls Invoke with the raw event; a type that did not satisfy
// lambda.Handler would be rejected by lambda.Start only at run time.
var _ awslambda.Handler = (*Invoker)(nil)

// Start runs mux (nil: core.NewMux()) behind the built-in actions as the
// function's handler, the way aws-lambda-go's lambda.Start runs a handler:
//
//	func main() { lambda.Start(core.NewMux().On(core.BatchSucceeded, save)) }
//
// Everything is built once, in the init phase: the configuration (the
// environment; Firestore by default, or DynamoDB with
// IDEMPOTENCY_STORE=dynamodb and DYNAMODB_TABLE: no Google Cloud project
// needed, see adapters/dynamodb), the signing secrets (from Secrets
// Manager when WEBHOOK_SIGNING_SECRET_ARN names them), Workload Identity
// Federation to Firestore when GCP_WORKLOAD_IDENTITY_PROVIDER is set, and
// the clients. One binary serves Function URL / HTTP API deliveries, SQS
// batches (the worker) and scheduled events (EventBridge Scheduler: the
// reconcile, core/reconcile): it dispatches on the event's shape. A bad
// configuration fails the init (Lambda reports Runtime.ExitError with the
// logged reason). Start installs the function's logger (NewLogger) as
// slog.Default(). Start never returns.
func Start(mux *core.Mux) {
	logger := installLogger(os.Stdout, os.Getenv)
	inv, err := setup(context.Background(), os.Getenv, logger, mux)
	if err != nil {
		logger.Error("init failed", "error", err.Error())
		os.Exit(1)
	}
	awslambda.Start(inv)
}

// installLogger makes NewLogger the process's slog.Default(), so that a
// handler's own lines (slog's functions, core.Logger(ctx)) are in Lambda's
// JSON format with the invocation's requestId. Lambda sends stdout to
// CloudWatch Logs; one JSON object per line, at the function's
// ApplicationLogLevel.
func installLogger(w io.Writer, getenv func(string) string) *slog.Logger {
	level, levelErr := env.LambdaLogLevel(getenv)
	logger := NewLogger(w, level)
	if levelErr != nil {
		logger.Warn("log level", "error", levelErr.Error())
	}
	slog.SetDefault(logger)
	return logger
}

// setup turns the environment into the function's one handler. It serves
// HTTP deliveries when a signature scheme is configured (with QUEUE=sqs:…
// it answers 202 once the event is on the queue), and SQS batches always,
// through the same store and processing. A function without a scheme is a
// worker: it says so at init and answers HTTP deliveries 500 (Gemini
// retries; nothing is lost).
func setup(ctx context.Context, getenv func(string) string, log *slog.Logger, mux *core.Mux) (*Invoker, error) {
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
	cfg, err := env.Load(getenv, env.Cloud)
	if err != nil {
		return nil, err
	}
	clients := &aws.Clients{}
	cloud := clients.Cloud()
	cloud.Name = "AWS Lambda"
	app, err := wire.Build(ctx, cfg, mux, wire.Options{Logger: log, Cloud: cloud})
	if err != nil {
		return nil, err
	}
	inv := &Invoker{Logger: log}
	if app.Receiver != nil {
		inv.HTTP = app.Receiver
	} else {
		inv.HTTP = noReceiver{log}
		log.Warn("no signature scheme configured: this function serves SQS batches only; HTTP deliveries are answered 500",
			"hint", "set WEBHOOK_SIGNING_SECRET_ARN (or WEBHOOK_SIGNING_SECRET) to receive deliveries")
	}
	// Failed records' next delivery: RETRY_BACKOFF (when set) doubled per
	// receive, else sqs.DefaultRetryDelay. The SQS client is made on the
	// first failed record, not during init: most invocations never need it.
	w := &sqs.Consumer{Runner: app.Runner, Client: lazySQS{clients}, Logger: log}
	if cfg.RetryBackoffSet {
		w.RetryDelay = cfg.RetryBackoff
	}
	inv.SQS = w
	if cfg.GeminiAPIKey != "" {
		inv.Reconcile = func(ctx context.Context) (any, error) {
			return app.Reconcile(ctx, wire.ReconcileOptions{Logger: log})
		}
	}
	// What is built lives as long as the execution environment; Lambda ends the process.
	log.Info("init", "schemes", fmt.Sprint(cfg.Schemes()), "store", cfg.IdempotencyStore, "signing_secrets", len(cfg.SigningSecrets),
		"queue", cfg.Queue, "results_sink", cfg.ResultsSink)
	return inv, nil
}

// noReceiver answers the HTTP deliveries that reach a worker-only function,
// with the delivery log line the receiver would write.
type noReceiver struct{ log *slog.Logger }

func (n noReceiver) Handle(ctx context.Context, req core.Request) core.Response {
	reason := "no signature scheme configured: set WEBHOOK_SIGNING_SECRET_ARN or WEBHOOK_SIGNING_SECRET"
	core.EventLine{Msg: core.LineDelivery, Outcome: core.OutcomeFailed, Status: http.StatusInternalServerError, Reason: reason}.Log(ctx, n.log)
	body, _ := json.Marshal(map[string]string{"outcome": string(core.OutcomeFailed), "reason": reason})
	return core.Response{Status: http.StatusInternalServerError, Outcome: core.OutcomeFailed, Reason: reason, Body: body}
}

// lazySQS builds the SQS client on its first call.
type lazySQS struct{ c *aws.Clients }

func (l lazySQS) ChangeMessageVisibility(ctx context.Context, in *awssqs.ChangeMessageVisibilityInput, optFns ...func(*awssqs.Options)) (*awssqs.ChangeMessageVisibilityOutput, error) {
	client, err := l.c.SQS(ctx)
	if err != nil {
		return nil, err
	}
	return client.ChangeMessageVisibility(ctx, in, optFns...)
}
