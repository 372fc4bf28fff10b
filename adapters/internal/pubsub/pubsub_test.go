package pubsub_test

import (
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/internal/pubsub"
	"github.com/geminiwebhooks/receiver/adapters/internal/queueattr"
	"github.com/geminiwebhooks/receiver/core"
)

// The message carries the delivery whole: the task rebuilt from it is the
// task the receiver queued.
func TestMessageRoundTrip(t *testing.T) {
	body := []byte(`{"type":"video.generated","version":"v1","data":{"id":"models/veo/operations/o1","file_id":"files/v"}}`)
	ev, err := core.ParseEvent(body)
	if err != nil {
		t.Fatal(err)
	}
	ev.Delivery = core.Delivery{ID: "msg_rt", Scheme: core.SchemeDynamic}
	now := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	attrs := queueattr.Of(ev, now) // what Enqueue publishes with the body
	want := map[string]string{"webhook_id": "msg_rt", "scheme": "dynamic", "event_type": "video.generated", "job_id": "models/veo/operations/o1", "enqueued_at": "2026-01-02T03:04:05.000000006Z"}
	for k, v := range want {
		if attrs[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, attrs[k], v)
		}
	}
	task := pubsub.Task("123", ev.Raw, attrs)
	if task.ID != "msg_rt" || task.Scheme != core.SchemeDynamic || string(task.Body) != string(body) || !task.EnqueuedAt.Equal(now) {
		t.Fatalf("task %+v", task)
	}
	back, err := task.Event()
	if err != nil || back.Type != ev.Type || back.JobID() != ev.JobID() || back.Delivery.ID != "msg_rt" {
		t.Fatalf("event %+v %v", back, err)
	}
	// Published by hand, without attributes: processed under the message id.
	if task := pubsub.Task("123", body, nil); task.ID != "pubsub:123" || !task.EnqueuedAt.IsZero() {
		t.Fatalf("task %+v", task)
	}
}
