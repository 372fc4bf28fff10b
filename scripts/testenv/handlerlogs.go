package testenv

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/geminiwebhooks/receiver/core"
)

// Messages of the lines LoggingMux's handler writes.
const (
	HandlerDefaultMsg = "handler logs with slog.Default"
	HandlerCtxMsg     = "handler logs with core.Logger(ctx)"
	// HandlerAttr is the attribute the handler adds to its event's line
	// with core.AddLineAttrs.
	HandlerAttr = "handler_saved"
)

// LoggingMux is a mux whose handler, for every event, writes one line with
// slog.Default() (without a context, as most code does), one with
// core.Logger(ctx), and adds HandlerAttr to the event's line: what a
// runtime's logging must carry, CheckHandlerLogs checks.
func LoggingMux() *core.Mux {
	return core.NewMux().Default(func(ctx context.Context, ev *core.Event) error {
		slog.Info(HandlerDefaultMsg, "rows", 3)
		core.Logger(ctx).Info(HandlerCtxMsg, "rows", 3)
		core.AddLineAttrs(ctx, slog.String(HandlerAttr, "rows=3"))
		return nil
	})
}

// Line is one JSON log line.
type Line map[string]any

// Lines parses the JSON lines of out (others are skipped).
func Lines(out string) []Line {
	var lines []Line
	for _, s := range strings.Split(out, "\n") {
		var l Line
		if json.Unmarshal([]byte(s), &l) == nil {
			lines = append(lines, l)
		}
	}
	return lines
}

// Find returns the first line whose msgKey is msg and, when id is set,
// whose webhook_id is id.
func Find(lines []Line, msgKey, msg, id string) Line {
	for _, l := range lines {
		if l[msgKey] == msg && (id == "" || l["webhook_id"] == id) {
			return l
		}
	}
	return nil
}

// CheckHandlerLogs checks the output of a runtime that ran LoggingMux's
// handler for the delivery id: its event line (eventMsg: "delivery" or
// "task") carries HandlerAttr and the handlers' outcome and time; the
// handler's two lines are there, in the runtime's format (platform: keys
// every line of that runtime has, such as "severity" or "requestId"), and
// the core.Logger(ctx) line names the delivery (plus ctxOnly, keys that
// come from the handler's context, such as the request's trace). msgKey is
// the runtime's message key ("msg", or "message" on Cloud Functions).
func CheckHandlerLogs(t testing.TB, out, msgKey, eventMsg, id string, platform, ctxOnly []string) {
	t.Helper()
	lines := Lines(out)
	ev := Find(lines, msgKey, eventMsg, id)
	if ev == nil {
		t.Fatalf("no %q line for %s in:\n%s", eventMsg, id, out)
	}
	if ev[HandlerAttr] != "rows=3" || ev["handlers"] != "ok" || ev["handler_ms"] == nil {
		t.Errorf("%s line without what the handler added, or the handlers' outcome and time: %v", eventMsg, ev)
	}
	def, ctx := Find(lines, msgKey, HandlerDefaultMsg, ""), Find(lines, msgKey, HandlerCtxMsg, id)
	if def == nil || ctx == nil {
		t.Fatalf("handler lines missing (slog.Default: %v, core.Logger(ctx): %v) in:\n%s", def != nil, ctx != nil, out)
	}
	for _, k := range platform {
		for name, l := range map[string]Line{"event": ev, "slog.Default": def, "core.Logger(ctx)": ctx} {
			if l[k] == nil {
				t.Errorf("%s line without %q: %v", name, k, l)
			}
		}
	}
	for _, k := range append([]string{"event_type", "job_id"}, ctxOnly...) {
		if ctx[k] == nil || ctx[k] == "" {
			t.Errorf("core.Logger(ctx) line without %q: %v", k, ctx)
		}
	}
	if ctx["rows"] != 3.0 {
		t.Errorf("core.Logger(ctx) line lost its own attributes: %v", ctx)
	}
}

// KeepDefaultLogger puts slog.Default() back as it is now when t ends: the
// runtimes install their own.
func KeepDefaultLogger(t testing.TB) {
	prev := slog.Default()
	t.Cleanup(func() { slog.SetDefault(prev) })
}
