package core_test

import (
	"context"
	"log/slog"
	"os"

	"github.com/geminiwebhooks/receiver/core"
)

// A handler logs with core.Logger(ctx): the runtime's logger (the one each
// runtime also installs as slog.Default()) with the event on every line.
// The runtimes start processing with WithEventLine; here a text logger on
// stdout stands in for a runtime's.
func ExampleLogger() {
	runtimeLog := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "handler_ms" {
				return slog.Attr{} // a stable output for the example
			}
			return a
		},
	}))
	save := func(ctx context.Context, ev *core.Event) error {
		core.Logger(ctx).Info("saved results", "rows", 3)
		core.AddLineAttrs(ctx, slog.Int("rows", 3)) // on the event's own delivery or task line
		return nil
	}

	ev, _ := core.ParseEvent([]byte(`{"type":"batch.succeeded","version":"v1","data":{"id":"batches/b1"}}`))
	ev.Delivery.ID = "msg_1"
	ctx, line := core.WithEventLine(context.Background(), runtimeLog, ev)
	_ = core.NewMux().On(core.BatchSucceeded, save).Process(ctx, ev)
	core.EventLine{Msg: core.LineDelivery, ID: ev.Delivery.ID, Event: ev, Outcome: core.OutcomeProcessed, Status: 200, Attrs: line}.Log(ctx, runtimeLog)
	// Output:
	// level=INFO msg="saved results" webhook_id=msg_1 event_type=batch.succeeded job_id=batches/b1 rows=3
	// level=INFO msg=delivery webhook_id=msg_1 event_type=batch.succeeded scheme="" outcome=processed status=200 job_id=batches/b1 rows=3 handlers=ok latency_ms=0
}
