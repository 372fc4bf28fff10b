// Package pubsub is the Google Cloud queue: the receiver publishes each
// verified, claimed event to a Pub/Sub topic (core.Queue) and the
// GeminiWorker function, triggered by the topic, rebuilds the task from
// the delivered message (Task). It reads no configuration of its own: the
// runtime passes PUBSUB_EMULATOR_HOST, as adapters/internal/env loaded it, in
// Publisher.
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
	"encoding/base64"
	"fmt"
	"time"

	"google.golang.org/api/option"
	pubsubv1 "google.golang.org/api/pubsub/v1"

	"github.com/geminiwebhooks/receiver/adapters/internal/queueattr"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/tasks"
)

// Queue publishes events to one topic through Pub/Sub's REST API. Not the
// gRPC client library: a publish is one small request either way, and the
// library (with its OpenCensus views and batching scheduler) added about a
// millisecond of package initialisation to every GeminiWebhook cold start.
type Queue struct {
	svc   *pubsubv1.Service
	topic string
	clock func() time.Time
}

var _ core.Queue = (*Queue)(nil)

// New opens a publisher of topic (projects/P/topics/T, as env checks
// QUEUE's). The HTTP client is built once per process and connects on
// first use; Publisher.Options point it at an emulator.
func New(ctx context.Context, topic string, opts ...option.ClientOption) (*Queue, error) {
	svc, err := pubsubv1.NewService(context.WithoutCancel(ctx), opts...)
	if err != nil {
		return nil, fmt.Errorf("pubsub client: %w", err)
	}
	return &Queue{svc: svc, topic: topic, clock: time.Now}, nil
}

// Enqueue publishes ev and returns once Pub/Sub has stored it. If ctx ends
// first the message may still be published; the receiver then answers 5xx,
// Gemini redelivers, and the worker's idempotency absorbs the second copy.
func (q *Queue) Enqueue(ctx context.Context, ev *core.Event) error {
	msg := &pubsubv1.PubsubMessage{Data: base64.StdEncoding.EncodeToString(ev.Raw), Attributes: queueattr.Of(ev, q.clock())}
	if _, err := q.svc.Projects.Topics.Publish(q.topic, &pubsubv1.PublishRequest{Messages: []*pubsubv1.PubsubMessage{msg}}).Context(ctx).Do(); err != nil {
		return fmt.Errorf("pubsub publish %s to %s: %w", ev.Delivery.ID, q.topic, err)
	}
	return nil
}

// Close releases nothing: the HTTP client's idle connections close with
// the process.
func (q *Queue) Close() error { return nil }

// Task rebuilds the queued task from a delivered message's id, data and
// attributes. A message published by hand without the delivery id (an
// operator replaying a body) is processed under "pubsub:" and its message id.
func Task(messageID string, data []byte, attrs map[string]string) tasks.Task {
	return queueattr.Task("pubsub", messageID, data, attrs)
}

// Publisher opens the queues QUEUE=pubsub:… names: what adapters/internal/wire's
// GoogleCloud calls.
type Publisher struct {
	// EmulatorHost is PUBSUB_EMULATOR_HOST (env.Config.PubSubEmulatorHost),
	// host:port: publish there without credentials, as Google's own
	// clients do. Empty: Pub/Sub.
	EmulatorHost string
}

// Options are the client options that reach p's server.
func (p Publisher) Options() []option.ClientOption {
	if p.EmulatorHost == "" {
		return nil
	}
	return []option.ClientOption{option.WithEndpoint("http://" + p.EmulatorHost + "/"), option.WithoutAuthentication()}
}

// Open opens a publisher of topic as a core.Queue, with its closer.
func (p Publisher) Open(ctx context.Context, topic string) (core.Queue, func() error, error) {
	q, err := New(ctx, topic, p.Options()...)
	if err != nil {
		return nil, nil, err
	}
	return q, q.Close, nil
}
