package cli

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	ps "cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/api/iterator"

	"github.com/geminiwebhooks/receiver/adapters/internal/admin"
	"github.com/geminiwebhooks/receiver/adapters/internal/env"
	"github.com/geminiwebhooks/receiver/adapters/internal/pubsub"
	"github.com/geminiwebhooks/receiver/adapters/internal/queueattr"
	"github.com/geminiwebhooks/receiver/core"
)

// pubsubKeyPrefix marks the dead letters that are Pub/Sub messages.
const pubsubKeyPrefix = "pubsub-dlq:"

// pubsubDLQ is the dead-letter subscription behind QUEUE=pubsub:projects/P/topics/T,
// read from the configuration (findDeadLetterSub).
type pubsubDLQ struct {
	client *ps.Client
	sub    string
	note   string // how it was found, when not from the configuration
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
	sub, note, err := findDeadLetterSub(ctx, c, cfg.QueueTarget)
	if err != nil {
		c.Close()
		return nil, err
	}
	return &pubsubDLQ{client: c, sub: sub, note: note}, nil
}

// conventionNote says the subscription was named, not found.
const conventionNote = "no subscription of the topic has a dead-letter policy: assumed deploy.sh's name"

// findDeadLetterSub finds the dead-letter subscription from the
// configuration itself: a subscription of topic (the worker's trigger,
// whatever Eventarc named it) whose deadLetterPolicy names a dead-letter
// topic, then that topic's subscription. Nothing found (no policy on any
// subscription yet): deploy.sh's name, T-dead-letter-sub, and a note.
func findDeadLetterSub(ctx context.Context, c *ps.Client, topic string) (sub, note string, err error) {
	subs, err := topicSubscriptions(ctx, c, topic)
	if err != nil {
		return "", "", fmt.Errorf("QUEUE %s: %w", topic, err)
	}
	for _, name := range subs {
		s, err := c.SubscriptionAdminClient.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: name})
		if err != nil {
			return "", "", fmt.Errorf("subscription %s: %w", name, err)
		}
		dead := s.GetDeadLetterPolicy().GetDeadLetterTopic()
		if dead == "" {
			continue
		}
		deadSubs, err := topicSubscriptions(ctx, c, dead)
		if err != nil {
			return "", "", fmt.Errorf("dead-letter topic %s (of %s): %w", dead, name, err)
		}
		if len(deadSubs) == 0 {
			return "", "", fmt.Errorf("dead-letter topic %s (of %s) has no subscription: its messages are dropped; add one", dead, name)
		}
		if len(deadSubs) > 1 {
			note = "the dead-letter topic has " + strconv.Itoa(len(deadSubs)) + " subscriptions; reading the first"
		}
		return deadSubs[0], note, nil
	}
	project, _ := env.ParseTopic(topic)
	return "projects/" + project + "/subscriptions/" + topic[strings.LastIndex(topic, "/")+1:] + "-dead-letter-sub", conventionNote, nil
}

// topicSubscriptions lists a topic's subscriptions, sorted.
func topicSubscriptions(ctx context.Context, c *ps.Client, topic string) ([]string, error) {
	var out []string
	it := c.TopicAdminClient.ListTopicSubscriptions(ctx, &pubsubpb.ListTopicSubscriptionsRequest{Topic: topic})
	for {
		name, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, err
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out, nil
}

// pullWait bounds one synchronous pull: the service may hold an empty pull
// open; nothing arriving in that time means nothing is there.
const pullWait = 5 * time.Second

func (q *pubsubDLQ) Peek(ctx context.Context) ([]admin.QueuedDead, error) {
	var out []admin.QueuedDead
	for len(out) < maxPeek {
		pctx, cancel := context.WithTimeout(ctx, pullWait)
		// Deprecated but still honoured (service and emulator): without it an
		// empty dead-letter queue would hold every peek for the whole pullWait.
		//lint:ignore SA1019 see above
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
			d := core.DeadLetter{Key: pubsubKeyPrefix + msg.GetMessageId(), Scheme: t.Scheme, EventType: msg.GetAttributes()[queueattr.EventType],
				Body: t.Body, ReceivedAt: msg.GetPublishTime().AsTime(),
				Reason: "in the Pub/Sub dead-letter subscription after " + strconv.Itoa(int(m.GetDeliveryAttempt())) + " deliveries (delivery " + t.ID + ")"}
			if m.GetDeliveryAttempt() == 0 {
				d.Reason = "in the Pub/Sub dead-letter subscription (delivery " + t.ID + ")"
			}
			if !t.EnqueuedAt.IsZero() {
				d.ReceivedAt = t.EnqueuedAt
			}
			out = append(out, admin.QueuedDead{DeadLetter: d, Receipt: m.GetAckId(), Delivery: t.ID})
		}
	}
	return out, nil
}

// release hands the messages back one by one (one already acknowledged
// must not make the others wait out their deadline).
func (q *pubsubDLQ) Release(ctx context.Context, ms []admin.QueuedDead) {
	for _, m := range ms {
		_ = q.client.SubscriptionAdminClient.ModifyAckDeadline(context.WithoutCancel(ctx), &pubsubpb.ModifyAckDeadlineRequest{
			Subscription: q.sub, AckIds: []string{m.Receipt}, AckDeadlineSeconds: 0})
	}
}

func (q *pubsubDLQ) Remove(ctx context.Context, m admin.QueuedDead) error {
	return q.client.SubscriptionAdminClient.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: q.sub, AckIds: []string{m.Receipt}})
}
