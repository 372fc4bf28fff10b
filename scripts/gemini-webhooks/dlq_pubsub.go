package main

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	ps "cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/geminiwebhooks/receiver/adapters/env"
	"github.com/geminiwebhooks/receiver/adapters/pubsub"
	"github.com/geminiwebhooks/receiver/core"
)

// pubsubKeyPrefix marks the dead letters that are Pub/Sub messages.
const pubsubKeyPrefix = "pubsub-dlq:"

// pubsubDLQ is the dead-letter subscription deploy/gcp/deploy.sh makes for
// QUEUE=pubsub:projects/P/topics/T: projects/P/subscriptions/T-dead-letter-sub.
type pubsubDLQ struct {
	client *ps.Client
	sub    string
}

func openPubSubDLQ(ctx context.Context, cfg env.Config) (*pubsubDLQ, error) {
	project, err := env.ParseTopic(cfg.QueueTarget)
	if err != nil {
		return nil, err
	}
	c, err := ps.NewClient(ctx, project)
	if err != nil {
		return nil, err
	}
	topic := cfg.QueueTarget[strings.LastIndex(cfg.QueueTarget, "/")+1:]
	return &pubsubDLQ{client: c, sub: "projects/" + project + "/subscriptions/" + topic + "-dead-letter-sub"}, nil
}

// pullWait bounds one synchronous pull: the service may hold an empty pull
// open; nothing arriving in that time means nothing is there.
const pullWait = 5 * time.Second

func (q *pubsubDLQ) peek(ctx context.Context) ([]queuedDead, error) {
	var out []queuedDead
	for len(out) < maxPeek {
		pctx, cancel := context.WithTimeout(ctx, pullWait)
		r, err := q.client.SubscriptionAdminClient.Pull(pctx, &pubsubpb.PullRequest{Subscription: q.sub, MaxMessages: 100, ReturnImmediately: true})
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			break
		}
		if err != nil {
			return out, err
		}
		if len(r.ReceivedMessages) == 0 {
			break
		}
		// Held for the command's length, not the subscription's deadline.
		var ids []string
		for _, m := range r.ReceivedMessages {
			ids = append(ids, m.GetAckId())
		}
		if err := q.client.SubscriptionAdminClient.ModifyAckDeadline(ctx, &pubsubpb.ModifyAckDeadlineRequest{Subscription: q.sub, AckIds: ids, AckDeadlineSeconds: 120}); err != nil {
			return out, err
		}
		for _, m := range r.ReceivedMessages {
			msg := m.GetMessage()
			t := pubsub.Task(msg.GetMessageId(), msg.GetData(), msg.GetAttributes())
			d := core.DeadLetter{Key: pubsubKeyPrefix + msg.GetMessageId(), Scheme: t.Scheme, EventType: msg.GetAttributes()[pubsub.AttrEventType],
				Body: t.Body, ReceivedAt: msg.GetPublishTime().AsTime(),
				Reason: "in the Pub/Sub dead-letter subscription after " + strconv.Itoa(int(m.GetDeliveryAttempt())) + " deliveries (delivery " + t.ID + ")"}
			if m.GetDeliveryAttempt() == 0 {
				d.Reason = "in the Pub/Sub dead-letter subscription (delivery " + t.ID + ")"
			}
			if !t.EnqueuedAt.IsZero() {
				d.ReceivedAt = t.EnqueuedAt
			}
			out = append(out, queuedDead{DeadLetter: d, receipt: m.GetAckId(), delivery: t.ID})
		}
	}
	return out, nil
}

// release hands the messages back one by one (one already acknowledged
// must not make the others wait out their deadline).
func (q *pubsubDLQ) release(ctx context.Context, ms []queuedDead) {
	for _, m := range ms {
		_ = q.client.SubscriptionAdminClient.ModifyAckDeadline(context.WithoutCancel(ctx), &pubsubpb.ModifyAckDeadlineRequest{
			Subscription: q.sub, AckIds: []string{m.receipt}, AckDeadlineSeconds: 0})
	}
}

func (q *pubsubDLQ) remove(ctx context.Context, m queuedDead) error {
	return q.client.SubscriptionAdminClient.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: q.sub, AckIds: []string{m.receipt}})
}
