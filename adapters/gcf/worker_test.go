package gcf

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/geminiwebhooks/receiver/adapters/gemini/geminitest"
	"github.com/geminiwebhooks/receiver/adapters/internal/env"
	"github.com/geminiwebhooks/receiver/adapters/internal/wire"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

const workerAPIKey = "test-key"

// pubsubEvent is the CloudEvent Eventarc sends for a Pub/Sub message.
func pubsubEvent(t *testing.T, msgID string, data []byte, attrs map[string]string) cloudevents.Event {
	t.Helper()
	e := cloudevents.NewEvent()
	e.SetID(msgID)
	e.SetSource("//pubsub.googleapis.com/projects/p/topics/gemini-webhook-events")
	e.SetType("google.cloud.pubsub.topic.v1.messagePublished")
	payload := map[string]any{
		"message":      map[string]any{"data": data, "attributes": attrs, "messageId": msgID, "publishTime": time.Now().UTC().Format(time.RFC3339Nano)},
		"subscription": "projects/p/subscriptions/eventarc-us-central1-geminiworker-123-sub-456",
	}
	if err := e.SetData(cloudevents.ApplicationJSON, payload); err != nil {
		t.Fatal(err)
	}
	return e
}

func newTestWorker(t *testing.T, api *geminitest.Server, sink string) *Worker {
	t.Helper()
	w := NewWorker(envOf(map[string]string{
		"IDEMPOTENCY_STORE": "memory", "GEMINI_API_KEY": workerAPIKey, "GOOGLE_GEMINI_BASE_URL": api.URL, "RESULTS_SINK": sink,
	}), newLogger(&syncBuffer{}), nil)
	t.Cleanup(func() { w.Close() })
	return w
}

// What each Pub/Sub delivery to GeminiWorker ends in. nil acknowledges the
// message; an error makes Pub/Sub deliver it again.
func TestWorkerHandlesPubSubMessages(t *testing.T) {
	api := geminitest.New(workerAPIKey)
	defer api.Close()
	f := geminitest.File{Name: "files/out-w", Size: 300_000, Seed: 21}
	api.AddFile(f)
	api.AddBatch("batches/w", geminitest.Batch{State: "BATCH_STATE_SUCCEEDED", OutputFile: f.Name})
	api.AddBatch("batches/missing", geminitest.Batch{State: "BATCH_STATE_SUCCEEDED", OutputFile: "files/not-there"})
	sink := t.TempDir()
	w := newTestWorker(t, api, sink)
	ctx := context.Background()
	attrs := func(id string) map[string]string { return map[string]string{"webhook_id": id, "scheme": "static"} }
	good := []byte(`{"type":"batch.succeeded","version":"v1","data":{"id":"batches/w","output_file_uri":"files/out-w"}}`)

	// Delivered twice (Pub/Sub is at least once): landed once.
	for i := range 2 {
		if err := w.Handle(ctx, pubsubEvent(t, "1001", good, attrs("msg_w"))); err != nil {
			t.Fatalf("delivery %d: %v", i+1, err)
		}
	}
	if n := api.Downloads(f.Name); n != 1 {
		t.Fatalf("%d downloads for two deliveries, want 1", n)
	}
	want := geminitest.Expect(f)
	if fi, err := os.Stat(filepath.Join(sink, "batches", "w", "results.jsonl")); err != nil || fi.Size() != want.Bytes {
		t.Fatalf("landed: %v %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(sink, "batches", "w", jobs.ManifestName)); err != nil {
		t.Fatal(err)
	}
	built := w.app.v.Load()
	j, _ := built.Processing.Ledger.GetJob(ctx, "batches/w")
	if j == nil || j.Landing != jobs.LandingLanded || len(j.Deliveries) != 1 || j.Deliveries[0] != "msg_w" {
		t.Fatalf("ledger %+v", j)
	}

	// A transient failure (the output is not there yet) is redelivered.
	missing := []byte(`{"type":"batch.succeeded","version":"v1","data":{"id":"batches/missing"}}`)
	if err := w.Handle(ctx, pubsubEvent(t, "1002", missing, attrs("msg_missing"))); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("transient failure: %v, want an error (redelivery)", err)
	}

	// Poison: a body that is not an event, and data that is not a Pub/Sub
	// message. Both are kept as dead letters and acknowledged.
	if err := w.Handle(ctx, pubsubEvent(t, "1003", []byte("{not json"), attrs("msg_poison"))); err != nil {
		t.Fatalf("poison message: %v, want acknowledged", err)
	}
	odd := cloudevents.NewEvent()
	odd.SetID("1004")
	odd.SetSource("//somewhere")
	odd.SetType("com.example.other")
	_ = odd.SetData("text/plain", []byte("hello"))
	if err := w.Handle(ctx, odd); err != nil {
		t.Fatalf("event that is not a Pub/Sub message: %v, want acknowledged", err)
	}
	dead, _ := built.Store.(core.DeadLetters).ListDeadLetters(ctx, 0)
	keys := map[string]core.DeadLetter{}
	for _, d := range dead {
		keys[d.Key] = d
	}
	if len(dead) != 2 || string(keys["msg_poison"].Body) != "{not json" || keys["msg_poison"].Scheme != core.SchemeStatic || string(keys["pubsub:1004"].Body) != "hello" {
		t.Fatalf("dead letters %+v, want msg_poison and pubsub:1004", dead)
	}

	// A message published by hand without the delivery id (an operator
	// replaying a body) is processed under its message id. (The API
	// confirms the failure: an event's end is not final on its own.)
	api.AddBatch("batches/h", geminitest.Batch{State: "BATCH_STATE_FAILED"})
	if err := w.Handle(ctx, pubsubEvent(t, "1005", []byte(`{"type":"batch.failed","version":"v1","data":{"id":"batches/h","error_message":"x"}}`), nil)); err != nil {
		t.Fatal(err)
	}
	if j, _ := built.Processing.Ledger.GetJob(ctx, "batches/h"); j == nil || j.State != jobs.JobFailed || j.Deliveries[0] != "pubsub:1005" {
		t.Fatalf("ledger %+v", j)
	}
}

// The Functions Framework's shape of a plain push (what the emulator
// sends): the same message, without the subscription, with "@type".
func TestWorkerAcceptsConvertedPush(t *testing.T) {
	api := geminitest.New(workerAPIKey)
	defer api.Close()
	api.AddBatch("batches/e", geminitest.Batch{State: "BATCH_STATE_EXPIRED"})
	w := newTestWorker(t, api, t.TempDir())
	e := cloudevents.NewEvent()
	e.SetID("77")
	e.SetSource("//pubsub.googleapis.com/projects/p/topics/t")
	e.SetType("google.cloud.pubsub.topic.v1.messagePublished")
	body := []byte(`{"type":"batch.expired","version":"v1","data":{"id":"batches/e"}}`)
	_ = e.SetData(cloudevents.ApplicationJSON, map[string]any{"message": map[string]any{
		"@type": "type.googleapis.com/google.pubsub.v1.PubsubMessage", "data": body,
		"attributes": map[string]string{"webhook_id": "msg_e", "scheme": "dynamic"}, "messageId": "77", "publishTime": time.Now()}})
	if err := w.Handle(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	j, _ := w.app.v.Load().Processing.Ledger.GetJob(context.Background(), "batches/e")
	if j == nil || j.State != jobs.JobExpired || j.Deliveries[0] != "msg_e" {
		t.Fatalf("ledger %+v", j)
	}
}

// A misconfigured worker says so at start-up and fails every event (Pub/Sub
// keeps them) without building; a failed build is retried by the next event.
func TestWorkerMisconfiguredAndBuildRetry(t *testing.T) {
	var logs syncBuffer
	built := false
	w := newWorker(envOf(map[string]string{"IDEMPOTENCY_STORE": "redis"}), newLogger(&logs), nil,
		func(context.Context, env.Config, *core.Mux, *slog.Logger) (*wire.App, error) {
			built = true
			return nil, errors.New("must not be called")
		})
	for range 2 {
		if err := w.Handle(context.Background(), pubsubEvent(t, "1", []byte("{}"), nil)); !errors.Is(err, errWorkerMisconfigured) {
			t.Fatalf("event at a misconfigured worker: %v", err)
		}
	}
	var start map[string]any
	if err := json.Unmarshal([]byte(strings.SplitN(logs.String(), "\n", 2)[0]), &start); err != nil || start["severity"] != "ERROR" || !strings.Contains(start["error"].(string), "IDEMPOTENCY_STORE") {
		t.Fatalf("start-up line %v (%v)", start, err)
	}
	if built {
		t.Fatal("a misconfigured worker built")
	}

	calls := 0
	w = newWorker(envOf(map[string]string{"IDEMPOTENCY_STORE": "memory"}), newLogger(&syncBuffer{}), nil,
		func(ctx context.Context, cfg env.Config, _ *core.Mux, log *slog.Logger) (*wire.App, error) {
			if calls++; calls == 1 {
				return nil, errors.New("credentials not found")
			}
			return wireBuild(ctx, cfg, nil, log)
		})
	t.Cleanup(func() { w.Close() })
	ev := pubsubEvent(t, "2", []byte(`{"type":"batch.cancelled","version":"v1","data":{"id":"batches/c"}}`), map[string]string{"webhook_id": "msg_c"})
	if err := w.Handle(context.Background(), ev); err == nil || !strings.Contains(err.Error(), "credentials not found") {
		t.Fatalf("first event: %v, want the build error", err)
	}
	if err := w.Handle(context.Background(), ev); err != nil || calls != 2 {
		t.Fatalf("redelivery: %v after %d builds", err, calls)
	}
}
