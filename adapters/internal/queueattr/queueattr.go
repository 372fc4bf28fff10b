// Package queueattr is the one definition of the attributes a queued
// delivery carries, shared by both queues (adapters/internal/sqs,
// adapters/internal/pubsub) and the admin CLI that reads their dead-letter
// queues: the sender writes them with Of, the worker rebuilds the task with
// Task. They name the delivery (webhook_id, the idempotency key the worker's
// dead letters use), its signature scheme and, for people and subscription
// filters, the event type and job id.
package queueattr

import (
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/tasks"
)

// The attributes' names.
const (
	DeliveryID = "webhook_id"
	Scheme     = "scheme"
	EventType  = "event_type"
	JobID      = "job_id"
	EnqueuedAt = "enqueued_at"      // RFC 3339, when the receiver sent it
	Encoding   = "content_encoding" // SQS only: "base64" when the body is encoded
)

// Of returns the attributes of the message that carries ev, sent at now.
// Empty values are left out (a queue may refuse an empty attribute).
func Of(ev *core.Event, now time.Time) map[string]string {
	attrs := map[string]string{
		DeliveryID: ev.Delivery.ID,
		EnqueuedAt: now.UTC().Format(time.RFC3339Nano),
	}
	if ev.Delivery.Scheme != "" {
		attrs[Scheme] = string(ev.Delivery.Scheme)
	}
	if ev.Type != "" {
		attrs[EventType] = ev.Type
	}
	if id := ev.JobID(); id != "" {
		attrs[JobID] = id
	}
	return attrs
}

// Task rebuilds the queued task from a delivered message's id, body and
// attributes. A message sent by hand without the delivery id (an operator
// replaying a body) is processed under queue + ":" + its message id, so two
// such messages never share an idempotency key.
func Task(queue, messageID string, body []byte, attrs map[string]string) tasks.Task {
	t := tasks.Task{ID: attrs[DeliveryID], Scheme: core.Scheme(attrs[Scheme]), Body: body}
	if t.ID == "" {
		t.ID = queue + ":" + messageID
	}
	if at, err := time.Parse(time.RFC3339Nano, attrs[EnqueuedAt]); err == nil {
		t.EnqueuedAt = at
	}
	return t
}
