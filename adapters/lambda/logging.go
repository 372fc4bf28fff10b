package lambda

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// requestIDKey is the attribute naming the invocation on every line, the
// key Lambda's own JSON log lines use.
const requestIDKey = "requestId"

// NewLogger writes one JSON object per line at level and above (Lambda's
// JSON log format keeps them as they are; its ApplicationLogLevel filter
// reads "level", which slog writes as DEBUG, INFO, WARN or ERROR). Every line
// logged during an invocation carries its request id (requestIDKey), from
// the invocation's context, or, for a line logged without it, from the
// invocation in progress (Lambda runs one at a time per process), and each
// delivery and task line is also a CloudWatch Embedded Metric Format
// document (see MetricsNamespace).
func NewLogger(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(requestIDHandler{Handler: slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})})
}

// current is the request id of the invocation in progress ("" between
// invocations); Invoke sets it.
var current atomic.Pointer[string]

// withInvocation marks ctx's invocation as the one in progress until the
// returned func is called.
func withInvocation(ctx context.Context) func() {
	lc, ok := lambdacontext.FromContext(ctx)
	if !ok || lc.AwsRequestID == "" {
		return func() {}
	}
	id := lc.AwsRequestID
	current.Store(&id)
	return func() { current.CompareAndSwap(&id, nil) }
}

type requestIDHandler struct {
	slog.Handler
	grouped bool // attributes go into a group: no EMF (its members are top level)
}

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		r.AddAttrs(slog.String(requestIDKey, lc.AwsRequestID))
	} else if id := current.Load(); id != nil {
		r.AddAttrs(slog.String(requestIDKey, *id))
	}
	if !h.grouped {
		addMetrics(&r)
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(as), h.grouped}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name), h.grouped || name != ""}
}
