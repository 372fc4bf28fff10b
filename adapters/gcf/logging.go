package gcf

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"strings"
)

// Cloud Logging's special fields in a structured (JSON) log line
// (https://cloud.google.com/logging/docs/structured-logging).
const (
	traceKey          = "logging.googleapis.com/trace"
	spanKey           = "logging.googleapis.com/spanId"
	traceSampledKey   = "logging.googleapis.com/trace_sampled"
	sourceLocationKey = "logging.googleapis.com/sourceLocation"
)

// newLogger writes one JSON object per line, which Cloud Logging parses from
// a function's stdout. It renames slog's "level" and "msg" to the keys Cloud
// Logging reads ("severity", "message") so that levels survive ingestion,
// adds "logging.googleapis.com/trace" (and spanId, trace_sampled) to lines
// logged with a request's context (see withTrace), so that a delivery's line
// sits under its request in the Logs Explorer, and
// "logging.googleapis.com/sourceLocation" to ERROR lines.
//
// No Google Cloud library does this for slog (cloud.google.com/go/logging
// writes through its own Logger and client), hence this small wrapper.
func newLogger(w io.Writer) *slog.Logger {
	return slog.New(cloudHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{ReplaceAttr: cloudLoggingKeys})})
}

func cloudLoggingKeys(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.MessageKey:
		a.Key = "message"
	case slog.LevelKey:
		a.Key = "severity"
		if lvl, ok := a.Value.Any().(slog.Level); ok {
			a.Value = slog.StringValue(severity(lvl))
		}
	}
	return a
}

// severity maps slog levels onto Cloud Logging's LogSeverity names.
func severity(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARNING"
	case l >= slog.LevelInfo:
		return "INFO"
	default:
		return "DEBUG"
	}
}

// cloudHandler adds the trace of the record's context and, for errors, the
// source location.
type cloudHandler struct{ slog.Handler }

func (h cloudHandler) Handle(ctx context.Context, r slog.Record) error {
	if t, ok := ctx.Value(traceCtxKey{}).(trace); ok {
		r.AddAttrs(slog.String(traceKey, t.name), slog.String(spanKey, t.span), slog.Bool(traceSampledKey, t.sampled))
	}
	if r.Level >= slog.LevelError && r.PC != 0 {
		f, _ := runtime.CallersFrames([]uintptr{r.PC}).Next()
		r.AddAttrs(slog.Group(sourceLocationKey,
			slog.String("file", f.File), slog.String("line", strconv.Itoa(f.Line)), slog.String("function", f.Function)))
	}
	return h.Handler.Handle(ctx, r)
}

func (h cloudHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return cloudHandler{h.Handler.WithAttrs(as)}
}

func (h cloudHandler) WithGroup(name string) slog.Handler {
	return cloudHandler{h.Handler.WithGroup(name)}
}

// trace is a request's trace as Cloud Logging names it.
type trace struct {
	name    string // projects/PROJECT/traces/TRACE_ID
	span    string // 16 hex digits
	sampled bool
}

type traceCtxKey struct{}

// withTrace returns ctx carrying the trace of r's headers — W3C
// traceparent, else Google's X-Cloud-Trace-Context — in project, for
// newLogger's lines. Without a project, or a well-formed header, ctx is
// returned as is.
func withTrace(ctx context.Context, r *http.Request, project string) context.Context {
	if project == "" {
		return ctx
	}
	id, span, sampled, ok := parseTraceparent(r.Header.Get("traceparent"))
	if !ok {
		id, span, sampled, ok = parseCloudTrace(r.Header.Get("X-Cloud-Trace-Context"))
	}
	if !ok {
		return ctx
	}
	return context.WithValue(ctx, traceCtxKey{}, trace{name: "projects/" + project + "/traces/" + id, span: span, sampled: sampled})
}

// parseTraceparent reads "00-TRACE_ID(32 hex)-SPAN_ID(16 hex)-FLAGS(2 hex)".
func parseTraceparent(s string) (id, span string, sampled, ok bool) {
	p := strings.Split(strings.TrimSpace(s), "-")
	if len(p) < 4 || len(p[0]) != 2 || p[0] == "ff" || !isHex(p[0]) || !isTraceID(p[1]) || len(p[2]) != 16 || !isHex(p[2]) || allZero(p[2]) || len(p[3]) != 2 || !isHex(p[3]) {
		return "", "", false, false
	}
	if p[0] == "00" && len(p) != 4 {
		return "", "", false, false
	}
	flags, _ := strconv.ParseUint(p[3], 16, 8)
	return strings.ToLower(p[1]), strings.ToLower(p[2]), flags&1 == 1, true
}

// parseCloudTrace reads "TRACE_ID/SPAN_ID;o=1" (the span id in decimal).
func parseCloudTrace(s string) (id, span string, sampled, ok bool) {
	s = strings.TrimSpace(s)
	rest, opts, _ := strings.Cut(s, ";")
	id, spanDec, _ := strings.Cut(rest, "/")
	if !isTraceID(id) {
		return "", "", false, false
	}
	if spanDec != "" {
		n, err := strconv.ParseUint(spanDec, 10, 64)
		if err != nil {
			return "", "", false, false
		}
		span = strconv.FormatUint(n, 16)
		span = strings.Repeat("0", 16-len(span)) + span
	}
	return strings.ToLower(id), span, strings.TrimSpace(opts) == "o=1", true
}

func isTraceID(s string) bool { return len(s) == 32 && isHex(s) && !allZero(s) }

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return s != ""
}

func allZero(s string) bool { return strings.Trim(s, "0") == "" }
