package queueattr_test

import (
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/internal/queueattr"
	"github.com/geminiwebhooks/receiver/core"
)

// TestRoundTrip: what Of writes, Task reads back; a message without the
// delivery id gets a key of its own per queue and message.
func TestRoundTrip(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 123, time.UTC)
	body := []byte(`{"type":"batch.succeeded","version":"v1","timestamp":"2026-05-01T12:00:00Z","data":{"id":"batches/b1","output_file_uri":"files/o"}}`)
	ev, err := core.ParseEvent(body)
	if err != nil {
		t.Fatal(err)
	}
	ev.Delivery = core.Delivery{ID: "msg_1", Scheme: core.SchemeStatic}
	attrs := queueattr.Of(ev, now)
	want := map[string]string{"webhook_id": "msg_1", "scheme": "static", "event_type": "batch.succeeded", "job_id": "batches/b1", "enqueued_at": "2026-05-01T12:00:00.000000123Z"}
	for k, v := range want {
		if attrs[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, attrs[k], v)
		}
	}
	if len(attrs) != len(want) {
		t.Errorf("attributes %v, want exactly %v", attrs, want)
	}
	task := queueattr.Task("sqs", "m1", body, attrs)
	if task.ID != "msg_1" || task.Scheme != core.SchemeStatic || !task.EnqueuedAt.Equal(now) || string(task.Body) != string(body) {
		t.Errorf("task %+v", task)
	}
	for _, c := range []struct{ queue, id, want string }{{"sqs", "m2", "sqs:m2"}, {"pubsub", "42", "pubsub:42"}} {
		if got := queueattr.Task(c.queue, c.id, body, nil); got.ID != c.want || !got.EnqueuedAt.IsZero() {
			t.Errorf("Task(%s, %s) without attributes: id %q enqueued %v, want %q and zero", c.queue, c.id, got.ID, got.EnqueuedAt, c.want)
		}
	}
}
