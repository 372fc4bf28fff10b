package gcf

import (
	"context"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/scripts/simulator/gemini"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
)

// On Cloud Functions a handler's lines (slog.Default, installed by
// Register, and core.Logger(ctx)) are Cloud Logging's JSON, with severity,
// and the context's logger carries the request's trace and the delivery;
// what the handler adds with AddLineAttrs is on GeminiWebhook's delivery line
// (processed inline) and on GeminiWorker's task line.
func TestHandlerLogsOnCloudFunctions(t *testing.T) {
	testenv.KeepDefaultLogger(t)
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	const cancelled = `{"type":"batch.cancelled","version":"v1","data":{"id":"batches/gcf-log"}}`

	t.Run("GeminiWebhook", func(t *testing.T) {
		var logs syncBuffer
		log := installLogger(&logs)
		secret := gemini.NewSecret()
		f := newWebhook(envOf(map[string]string{"WEBHOOK_SIGNING_SECRET": secret, "IDEMPOTENCY_STORE": "memory", "GOOGLE_CLOUD_PROJECT": "proj-1"}), log, testenv.LoggingMux())
		t.Cleanup(func() { f.Close() })
		r := delivery{id: "msg_gcf_log", ts: time.Now().Unix(), body: cancelled}.request(secret)
		r.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
		if status, a := serve(t, f, r); status != 200 {
			t.Fatalf("status %d %+v", status, a)
		}
		testenv.CheckHandlerLogs(t, logs.String(), "message", "delivery", "msg_gcf_log", []string{"severity"}, []string{traceKey})
		if got := testenv.Find(testenv.Lines(logs.String()), "message", testenv.HandlerCtxMsg, "msg_gcf_log")[traceKey]; got != "projects/proj-1/traces/"+traceID {
			t.Errorf("core.Logger(ctx) line's trace %v", got)
		}
	})
	t.Run("GeminiWorker", func(t *testing.T) {
		var logs syncBuffer
		log := installLogger(&logs)
		w := NewWorker(envOf(map[string]string{"IDEMPOTENCY_STORE": "memory"}), log, testenv.LoggingMux())
		t.Cleanup(func() { w.Close() })
		attrs := map[string]string{"webhook_id": "msg_gcf_task", "scheme": "static"}
		if err := w.Handle(context.Background(), pubsubEvent(t, "3001", []byte(cancelled), attrs)); err != nil {
			t.Fatal(err)
		}
		testenv.CheckHandlerLogs(t, logs.String(), "message", "task", "msg_gcf_task", []string{"severity"}, nil)
	})
}
