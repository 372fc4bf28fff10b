package lambda

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/geminiwebhooks/receiver/adapters/internal/sqs"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
)

// On Lambda a handler's lines (slog.Default, installed by Start, and
// core.Logger(ctx)) are in the JSON format with the invocation's requestId,
// and what the handler adds with AddLineAttrs is on the delivery line (a
// Function URL delivery processed inline) and on the SQS consumer's task
// line.
func TestHandlerLogsOnLambda(t *testing.T) {
	testenv.KeepDefaultLogger(t)
	vars := map[string]string{"WEBHOOK_SIGNING_SECRET": testSecret, "IDEMPOTENCY_STORE": "memory"}
	getenv := func(k string) string { return vars[k] }
	const cancelled = `{"type":"batch.cancelled","version":"v1","data":{"id":"batches/lambda-log"}}`
	invoke := func(t *testing.T, requestID string, ev any) (string, []byte) {
		t.Helper()
		var logs testenv.SyncBuffer
		log := installLogger(&logs, getenv)
		inv, err := setup(context.Background(), getenv, log, testenv.LoggingMux())
		if err != nil {
			t.Fatal(err)
		}
		raw, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: requestID})
		out, err := inv.Invoke(ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		return logs.String(), out
	}
	platform := []string{"level", requestIDKey}

	t.Run("Function URL", func(t *testing.T) {
		logs, out := invoke(t, "req-url", functionURLEvent("POST", signed(t, "msg_lambda_log", time.Now(), []byte(cancelled)), cancelled, false))
		var resp events.LambdaFunctionURLResponse
		if err := json.Unmarshal(out, &resp); err != nil || resp.StatusCode != 200 {
			t.Fatalf("answer %s (%v)", out, err)
		}
		testenv.CheckHandlerLogs(t, logs, "msg", "delivery", "msg_lambda_log", platform, nil)
		if l := testenv.Find(testenv.Lines(logs), "msg", testenv.HandlerDefaultMsg, ""); l[requestIDKey] != "req-url" {
			t.Errorf("slog.Default line's requestId: %v", l)
		}
	})
	t.Run("SQS", func(t *testing.T) {
		ev, err := core.ParseEvent([]byte(cancelled))
		if err != nil {
			t.Fatal(err)
		}
		ev.Delivery = core.Delivery{ID: "msg_sqs_log", Scheme: core.SchemeStatic}
		in := sqs.SendInput("https://sqs.us-east-1.amazonaws.com/1/q", ev, time.Now())
		m := events.SQSMessage{MessageId: "m-1", Body: aws.ToString(in.MessageBody), EventSource: "aws:sqs",
			EventSourceARN: "arn:aws:sqs:us-east-1:1:q", Attributes: map[string]string{"ApproximateReceiveCount": "1"},
			MessageAttributes: map[string]events.SQSMessageAttribute{}}
		for k, v := range in.MessageAttributes {
			m.MessageAttributes[k] = events.SQSMessageAttribute{StringValue: v.StringValue, DataType: aws.ToString(v.DataType)}
		}
		logs, out := invoke(t, "req-sqs", events.SQSEvent{Records: []events.SQSMessage{m}})
		var resp events.SQSEventResponse
		if err := json.Unmarshal(out, &resp); err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("answer %s (%v)", out, err)
		}
		testenv.CheckHandlerLogs(t, logs, "msg", "task", "msg_sqs_log", platform, nil)
	})
}
