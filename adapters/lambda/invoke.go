package lambda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/geminiwebhooks/receiver/core"
)

// httpHandler answers one delivery; *core.Receiver is one.
type httpHandler interface {
	Handle(ctx context.Context, req core.Request) core.Response
}

// sqsHandler processes one SQS batch, reporting the messages that failed.
type sqsHandler interface {
	HandleSQS(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error)
}

// errSQSNotConfigured: an SQS batch reached a function without a worker. The
// invocation fails, so the batch stays on the queue (and reaches its DLQ).
var errSQSNotConfigured = errors.New("SQS batch received but no SQS worker is configured in this function")

// invoker is the function's one entry: it serves HTTP deliveries (Function
// URL or HTTP API) and SQS batches from the same binary, dispatching on the
// event's shape. It implements aws-lambda-go's lambda.Handler, so the runtime
// hands it raw bytes: an HTTP request is decoded once, without reflection.
type invoker struct {
	HTTP httpHandler
	SQS  sqsHandler // nil: SQS batches fail with errSQSNotConfigured
	// Reconcile runs on a scheduled event (nil: it fails with
	// errReconcileNotConfigured); its result is the invocation's answer.
	Reconcile func(ctx context.Context) (any, error)
	Logger    *slog.Logger
}

// errReconcileNotConfigured: a scheduled event reached a function that
// cannot reconcile (no Gemini API key).
var errReconcileNotConfigured = errors.New("scheduled event received but this function cannot reconcile: set GEMINI_API_KEY_ARN or GEMINI_API_KEY")

// reconcileMargin is left of an invocation's deadline when a reconcile
// stops, so it can answer (and log its summary) before Lambda ends it.
const reconcileMargin = 10 * time.Second

// Invoke handles one invocation. HTTP deliveries never fail the invocation:
// every outcome, rejections included, is an HTTP answer.
func (i *invoker) Invoke(ctx context.Context, raw []byte) ([]byte, error) {
	defer withInvocation(ctx)()
	var p payload
	err := json.Unmarshal(raw, &p)
	kind := KindUnknown
	if err != nil {
		err = fmt.Errorf("%w: not a JSON object: %v", errUnsupportedEvent, err)
	} else {
		kind, err = p.kind()
	}
	if err != nil {
		i.logger().WarnContext(ctx, "invocation rejected", "event_kind", kind.String(), "error", err.Error())
		return nil, err
	}
	switch kind {
	case KindFunctionURL:
		resp := i.HTTP.Handle(ctx, newRequest(p.RequestContext.HTTP.Method, p.Headers, p.Body, p.IsBase64Encoded))
		return json.Marshal(toFunctionURL(resp))
	case KindHTTPAPI:
		resp := i.HTTP.Handle(ctx, newRequest(p.RequestContext.HTTP.Method, p.Headers, p.Body, p.IsBase64Encoded))
		return json.Marshal(toHTTPAPI(resp))
	case KindSQS:
		if i.SQS == nil {
			i.logger().ErrorContext(ctx, "invocation rejected", "event_kind", kind.String(), "error", errSQSNotConfigured.Error())
			return nil, errSQSNotConfigured
		}
		var ev events.SQSEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("%w: SQS batch: %v", errUnsupportedEvent, err)
		}
		resp, err := i.SQS.HandleSQS(ctx, ev)
		if err != nil {
			return nil, err
		}
		return json.Marshal(resp)
	case KindSchedule:
		if i.Reconcile == nil {
			i.logger().ErrorContext(ctx, "invocation rejected", "event_kind", kind.String(), "error", errReconcileNotConfigured.Error())
			return nil, errReconcileNotConfigured
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) > 2*reconcileMargin {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, dl.Add(-reconcileMargin))
			defer cancel()
		}
		out, err := i.Reconcile(ctx)
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
		return json.Marshal(out)
	}
	return nil, fmt.Errorf("%w: kind %s", errUnsupportedEvent, kind)
}

func (i *invoker) logger() *slog.Logger {
	if i.Logger != nil {
		return i.Logger
	}
	return slog.Default()
}
