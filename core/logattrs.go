package core

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/geminiwebhooks/receiver/core/internal/text"
)

// LineAttrs collects what the actions behind a delivery add to its one log
// line (the receiver's "delivery" line, the queue worker's "task" line),
// so that a delivery costs one line however many actions it passes. It
// also carries the logger a handler reaches with Logger.
type LineAttrs struct {
	mu    sync.Mutex
	attrs []slog.Attr

	log *slog.Logger // the runtime's logger (nil: slog.Default())
	ev  *Event       // the event being processed (nil: none)
}

type lineAttrsKey struct{}

// WithLineAttrs returns ctx carrying a fresh LineAttrs for one delivery's
// line; the line's writer reads it back with Attrs.
func WithLineAttrs(ctx context.Context) (context.Context, *LineAttrs) {
	return WithEventLine(ctx, nil, nil)
}

// WithEventLine returns the context to process ev in: it carries a fresh
// LineAttrs for the event's one line (EventLine.Attrs) and log, the
// runtime's logger, which the handlers reach with Logger(ctx). Every
// runtime's processing (the receiver inline, the local queue, the cloud
// queues' runner) starts here.
func WithEventLine(ctx context.Context, log *slog.Logger, ev *Event) (context.Context, *LineAttrs) {
	la := &LineAttrs{log: log, ev: ev}
	return context.WithValue(ctx, lineAttrsKey{}, la), la
}

// AddLineAttrs adds attrs to the log line of the delivery ctx belongs to,
// replacing earlier ones of the same key; without one it does nothing.
// A handler may use it: what it adds is on the event's "delivery" line
// (processed inline) or "task" line (processed by a queue's worker), in
// every runtime.
func AddLineAttrs(ctx context.Context, attrs ...slog.Attr) {
	la, _ := ctx.Value(lineAttrsKey{}).(*LineAttrs)
	if la == nil {
		return
	}
	la.mu.Lock()
	defer la.mu.Unlock()
next:
	for _, a := range attrs {
		for i := range la.attrs {
			if la.attrs[i].Key == a.Key {
				la.attrs[i] = a
				continue next
			}
		}
		la.attrs = append(la.attrs, a)
	}
}

// Attrs returns what was added (nil for a nil LineAttrs).
func (la *LineAttrs) Attrs() []slog.Attr {
	if la == nil {
		return nil
	}
	la.mu.Lock()
	defer la.mu.Unlock()
	return append([]slog.Attr(nil), la.attrs...)
}

// Logger returns the logger for a handler's own lines: the runtime's
// logger, which each runtime also installs as slog.Default() (Cloud
// Logging's JSON with "severity" and the request's trace on Cloud
// Functions, the JSON format with "requestId" on Lambda, the local
// server's JSON lines locally), with the event's webhook_id, event_type and
// job_id on every line. Its lines are logged with ctx, so the platform's
// fields that come from the request (the trace) are there even from Info
// or Error without a context. Outside a runtime (a handler's unit test) it
// is slog.Default() with the same bound context.
func Logger(ctx context.Context) *slog.Logger {
	la, _ := ctx.Value(lineAttrsKey{}).(*LineAttrs)
	base := slog.Default()
	if la != nil && la.log != nil {
		base = la.log
	}
	l := slog.New(boundHandler{base.Handler(), ctx})
	if la != nil && la.ev != nil {
		attrs := []any{slog.String("webhook_id", la.ev.Delivery.ID), slog.String("event_type", la.ev.Type)}
		if id := la.ev.JobID(); id != "" {
			attrs = append(attrs, slog.String("job_id", id))
		}
		l = l.With(attrs...)
	}
	return l
}

// boundHandler logs the records its logger gets without a context (Info,
// Error: context.Background()) with the context it was made for.
type boundHandler struct {
	slog.Handler
	ctx context.Context
}

func (h boundHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.Handler.Enabled(h.pick(ctx), l)
}

func (h boundHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.Handler.Handle(h.pick(ctx), r)
}

func (h boundHandler) pick(ctx context.Context) context.Context {
	if ctx == nil || ctx == context.Background() || ctx == context.TODO() {
		return h.ctx
	}
	return ctx
}

func (h boundHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return boundHandler{h.Handler.WithAttrs(as), h.ctx}
}

func (h boundHandler) WithGroup(name string) slog.Handler {
	return boundHandler{h.Handler.WithGroup(name), h.ctx}
}

// The messages of the one line per handled event.
const (
	LineDelivery = "delivery" // the receiver's line: one per delivery it answered
	LineTask     = "task"     // a queue worker's line: one per attempt at a queued event
)

// OutcomeRetry is a task line's outcome when the attempt failed and the
// queue delivers the event again.
const OutcomeRetry Outcome = "retry"

// The keys and values the mux writes on the line (see Mux).
const (
	lineHandlers     = "handlers"
	lineHandlerMS    = "handler_ms"
	handlersOK       = "ok"
	handlersFailed   = "failed"
	handlersPanicked = "panicked"
	handlersNone     = "none"
)

// EventLine is the one log line of a handled event: the receiver's
// "delivery" line and every queue worker's "task" line (the local queue,
// GeminiWorker, the Lambda's SQS records) are built here, so they carry
// the same fields in every runtime: webhook_id, event_type, scheme, outcome,
// status (delivery lines) or attempt (task lines), reason, error,
// store_error, job_id, what the actions and handlers added (AddLineAttrs;
// the mux's handlers and handler_ms among them) and latency_ms.
type EventLine struct {
	Msg string // LineDelivery or LineTask
	// ID is the delivery id; Unverified marks it as the webhook-id header
	// of a rejected request, logged for correlation only.
	ID         string
	Unverified bool
	Event      *Event // nil when the body did not parse
	Scheme     Scheme
	Outcome    Outcome
	Status     int       // delivery lines: the HTTP answer
	Attempt    int       // task lines: the queue's count of deliveries (0: unknown)
	Replay     bool      // task lines: a dead letter replayed (tasks.Runner.Replay)
	RetryAt    time.Time // task lines retried at a known time
	Reason     string
	Err        error
	StoreErr   error // a failed store write after the outcome was decided
	Attrs      *LineAttrs
	Latency    time.Duration
}

// Log writes the line on log, at WARN for outcomes that need a look
// (rejected, conflict, in progress, retry, a delivery's dead letter) and
// ERROR for failures (and a task's dead letter: an event given up on).
func (l EventLine) Log(ctx context.Context, log *slog.Logger) {
	level := slog.LevelInfo
	switch l.Outcome {
	case OutcomeRejected, OutcomeConflict, OutcomeInProgress, OutcomeRetry:
		level = slog.LevelWarn
	case OutcomeDeadLetter:
		level = slog.LevelWarn
		if l.Msg == LineTask {
			level = slog.LevelError
		}
	case OutcomeFailed:
		level = slog.LevelError
	}
	attrs := make([]slog.Attr, 0, 12)
	if l.Unverified && l.ID != "" {
		attrs = append(attrs, slog.Bool("webhook_id_unverified", true))
	}
	attrs = append(attrs,
		slog.String("webhook_id", l.ID),
		slog.String("event_type", eventType(l.Event)),
	)
	if l.Scheme != "" || l.Msg == LineDelivery {
		attrs = append(attrs, slog.String("scheme", string(l.Scheme)))
	}
	attrs = append(attrs, slog.String("outcome", string(l.Outcome)))
	if l.Msg == LineTask {
		attrs = append(attrs, slog.Int("attempt", l.Attempt))
	} else {
		attrs = append(attrs, slog.Int("status", l.Status))
	}
	if l.Replay {
		attrs = append(attrs, slog.Bool("replay", true))
	}
	if !l.RetryAt.IsZero() {
		attrs = append(attrs, slog.String("retry_at", l.RetryAt.UTC().Format(time.RFC3339)))
	}
	if l.Reason != "" {
		attrs = append(attrs, slog.String("reason", text.Truncate(l.Reason, maxLineError)))
	}
	if l.Err != nil {
		attrs = append(attrs, slog.String("error", text.Truncate(l.Err.Error(), maxLineError)))
	}
	if l.StoreErr != nil {
		attrs = append(attrs, slog.String("store_error", l.StoreErr.Error()))
	}
	if l.Event != nil && l.Event.JobID() != "" {
		attrs = append(attrs, slog.String("job_id", l.Event.JobID()))
	}
	attrs = append(attrs, l.Attrs.Attrs()...)
	attrs = append(attrs, slog.Float64("latency_ms", roundMS(l.Latency)))
	log.LogAttrs(ctx, level, l.Msg, attrs...)
}

// maxLineError bounds an error or reason on the line (a handler's error
// may carry a stack).
const maxLineError = 4096
