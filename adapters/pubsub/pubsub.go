// Package pubsub is the Google Cloud queue: the receiver publishes each
// verified, claimed event to a Pub/Sub topic (core.Queue) and the
// GeminiWorker function, triggered by the topic, rebuilds the task from
// the delivered message (Task). The client honours PUBSUB_EMULATOR_HOST.
//
// One delivery costs one message. Its data is the verified body, byte for
// byte; its attributes name the delivery (webhook_id, the idempotency key
// the worker's dead letters use), the scheme, and, for people and
// subscription filters, the event type and job id.
//
// No ordering key: the job ledger applies events in any order (states only
// move forward), Eventarc's trigger subscription cannot enable ordering,
// and an ordered key that keeps failing would hold back every later event
// of its job, while the publisher would pause the key after one failed
// publish. Ordering would cost availability and buy nothing.
package pubsub

import (
	"context"
	"fmt"
	"time"

	ps "cloud.google.com/go/pubsub/v2"
	"google.golang.org/api/option"

	"github.com/geminiwebhooks/receiver/adapters/env"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/tasks"
)

// Message attributes.
const (
	AttrDeliveryID = "webhook_id"
	AttrScheme     = "scheme"
	AttrEventType  = "event_type"
	AttrJobID      = "job_id"
	AttrEnqueuedAt = "enqueued_at" // RFC 3339, when the receiver published it
)

// publishDelay is how long the publisher gathers messages into one
// request. The library's 10 ms default would be added to every delivery's
// answer; 1 ms still batches the bursts a busy instance sees.
const publishDelay = time.Millisecond

// Queue publishes events to one topic.
type Queue struct {
	client *ps.Client
	pub    *ps.Publisher
	clock  func() time.Time
}

var _ core.Queue = (*Queue)(nil)

// New opens a publisher of topic (projects/P/topics/T). The client is
// built once per process; gRPC connects on first use.
func New(ctx context.Context, topic string, opts ...option.ClientOption) (*Queue, error) {
	project, err := env.ParseTopic(topic)
	if err != nil {
		return nil, err
	}
	client, err := ps.NewClient(context.WithoutCancel(ctx), project, opts...)
	if err != nil {
		return nil, fmt.Errorf("pubsub client: %w", err)
	}
	pub := client.Publisher(topic)
	pub.PublishSettings.DelayThreshold = publishDelay
	// The caller's deadline (the handler's few seconds) bounds each
	// publish; this only stops the library retrying forever behind it.
	pub.PublishSettings.Timeout = 30 * time.Second
	return &Queue{client: client, pub: pub, clock: time.Now}, nil
}

// Enqueue publishes ev and returns once Pub/Sub has stored it. If ctx ends
// first the message may still be published; the receiver then answers 5xx,
// Gemini redelivers, and the worker's idempotency absorbs the second copy.
func (q *Queue) Enqueue(ctx context.Context, ev *core.Event) error {
	res := q.pub.Publish(ctx, Message(ev, q.clock()))
	if _, err := res.Get(ctx); err != nil {
		return fmt.Errorf("pubsub publish %s to %s: %w", ev.Delivery.ID, q.pub, err)
	}
	return nil
}

// Close flushes and stops the publisher, then closes the client.
func (q *Queue) Close() error {
	q.pub.Stop()
	return q.client.Close()
}

// Message is the message that carries ev.
func Message(ev *core.Event, now time.Time) *ps.Message {
	attrs := map[string]string{
		AttrDeliveryID: ev.Delivery.ID,
		AttrEnqueuedAt: now.UTC().Format(time.RFC3339Nano),
	}
	if ev.Delivery.Scheme != "" {
		attrs[AttrScheme] = string(ev.Delivery.Scheme)
	}
	if ev.Type != "" {
		attrs[AttrEventType] = ev.Type
	}
	if id := ev.JobID(); id != "" {
		attrs[AttrJobID] = id
	}
	return &ps.Message{Data: ev.Raw, Attributes: attrs}
}

// Task rebuilds the queued task from a delivered message's id, data and
// attributes. A message published by hand without the delivery id (an
// operator replaying a body) is processed under "pubsub:" and its message id.
func Task(messageID string, data []byte, attrs map[string]string) tasks.Task {
	t := tasks.Task{ID: attrs[AttrDeliveryID], Scheme: core.Scheme(attrs[AttrScheme]), Body: data}
	if t.ID == "" {
		t.ID = "pubsub:" + messageID
	}
	if at, err := time.Parse(time.RFC3339Nano, attrs[AttrEnqueuedAt]); err == nil {
		t.EnqueuedAt = at
	}
	return t
}

// Open opens a publisher of topic as a core.Queue, with its closer: what
// adapters/wire calls for QUEUE=pubsub:….
func Open(ctx context.Context, topic string) (core.Queue, func() error, error) {
	q, err := New(ctx, topic)
	if err != nil {
		return nil, nil, err
	}
	return q, q.Close, nil
}
