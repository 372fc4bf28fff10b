package pubsub_test

import (
	"strings"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/pubsub"
	"github.com/geminiwebhooks/receiver/core"
)

func TestParseTopic(t *testing.T) {
	cases := []struct{ topic, project, err string }{
		{"projects/my-project/topics/gemini-webhook-events", "my-project", ""},
		{"projects/example.com:proj-1/topics/t_1.x~y+z%2", "example.com:proj-1", ""},
		{"projects/my-project/topics/ab", "", "projects/PROJECT/topics/TOPIC"}, // ids have at least 3 characters
		{"projects/my-project/topics/1abc", "", "projects/PROJECT/topics/TOPIC"},
		{"projects/my-project/subscriptions/abc", "", "projects/PROJECT/topics/TOPIC"},
		{"gemini-webhook-events", "", "projects/PROJECT/topics/TOPIC"},
		{"projects//topics/abc", "", "projects/PROJECT/topics/TOPIC"},
	}
	for _, c := range cases {
		p, err := pubsub.ParseTopic(c.topic)
		if p != c.project || (err == nil) != (c.err == "") || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("ParseTopic(%q) = %q, %v; want %q, %q", c.topic, p, err, c.project, c.err)
		}
	}
}

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
	m := pubsub.Message(ev, now)
	if string(m.Data) != string(body) || m.OrderingKey != "" {
		t.Fatalf("message %+v", m)
	}
	want := map[string]string{"webhook_id": "msg_rt", "scheme": "dynamic", "event_type": "video.generated", "job_id": "models/veo/operations/o1", "enqueued_at": "2026-01-02T03:04:05.000000006Z"}
	for k, v := range want {
		if m.Attributes[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, m.Attributes[k], v)
		}
	}
	task := pubsub.Task("123", m.Data, m.Attributes)
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
