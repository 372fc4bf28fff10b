// Package pubsubtest sets up topics and subscriptions in the Pub/Sub
// emulator (testenv.StartPubSub) and reads what they hold, for tests.
// PUBSUB_EMULATOR_HOST must be set before Client is called.
package pubsubtest

import (
	"context"
	"fmt"
	"time"

	ps "cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Setup is a topic, its subscription and, when asked for, a dead-letter
// topic with a subscription that keeps what is dead-lettered.
type Setup struct {
	Topic, Subscription string
	DeadLetterTopic     string // "" without a dead-letter policy
	DeadLetterSub       string
}

// Options of Create.
type Options struct {
	PushEndpoint string // "": a pull subscription
	MaxAttempts  int32  // > 0: dead-letter policy (Pub/Sub allows 5 to 100)
	MinRetry     time.Duration
	MaxRetry     time.Duration
	AckDeadline  time.Duration // 0: 10 s
}

// Create makes topic projects/P/topics/ID, subscription ID-sub and, with
// MaxAttempts, ID-dead-letter and ID-dead-letter-sub.
func Create(ctx context.Context, c *ps.Client, id string, o Options) (*Setup, error) {
	p := c.Project()
	s := &Setup{Topic: fmt.Sprintf("projects/%s/topics/%s", p, id), Subscription: fmt.Sprintf("projects/%s/subscriptions/%s-sub", p, id)}
	if _, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: s.Topic}); err != nil {
		return nil, fmt.Errorf("create topic %s: %w", s.Topic, err)
	}
	sub := &pubsubpb.Subscription{Name: s.Subscription, Topic: s.Topic, AckDeadlineSeconds: 10}
	if o.AckDeadline > 0 {
		sub.AckDeadlineSeconds = int32(o.AckDeadline / time.Second)
	}
	if o.PushEndpoint != "" {
		sub.PushConfig = &pubsubpb.PushConfig{PushEndpoint: o.PushEndpoint}
	}
	if o.MinRetry > 0 || o.MaxRetry > 0 {
		sub.RetryPolicy = &pubsubpb.RetryPolicy{MinimumBackoff: durationpb.New(o.MinRetry), MaximumBackoff: durationpb.New(o.MaxRetry)}
	}
	if o.MaxAttempts > 0 {
		s.DeadLetterTopic = s.Topic + "-dead-letter"
		s.DeadLetterSub = s.Subscription[:len(s.Subscription)-len("-sub")] + "-dead-letter-sub"
		if _, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: s.DeadLetterTopic}); err != nil {
			return nil, fmt.Errorf("create topic %s: %w", s.DeadLetterTopic, err)
		}
		if _, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{Name: s.DeadLetterSub, Topic: s.DeadLetterTopic}); err != nil {
			return nil, fmt.Errorf("create subscription %s: %w", s.DeadLetterSub, err)
		}
		sub.DeadLetterPolicy = &pubsubpb.DeadLetterPolicy{DeadLetterTopic: s.DeadLetterTopic, MaxDeliveryAttempts: o.MaxAttempts}
	}
	if _, err := c.SubscriptionAdminClient.CreateSubscription(ctx, sub); err != nil {
		return nil, fmt.Errorf("create subscription %s: %w", s.Subscription, err)
	}
	return s, nil
}

// Pull acknowledges and returns every message the subscription delivers
// until want have arrived and then settle has passed without another, or
// until timeout. The emulator answers an empty pull at once, so it polls.
func Pull(ctx context.Context, c *ps.Client, subscription string, want int, settle, timeout time.Duration) ([]*pubsubpb.ReceivedMessage, error) {
	var got []*pubsubpb.ReceivedMessage
	deadline := time.Now().Add(timeout)
	var quietSince time.Time
	for time.Now().Before(deadline) {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		resp, err := c.SubscriptionAdminClient.Pull(pctx, &pubsubpb.PullRequest{Subscription: subscription, MaxMessages: 100})
		cancel()
		if err != nil && pctx.Err() == nil {
			return got, err
		}
		if n := len(resp.GetReceivedMessages()); n > 0 {
			ids := make([]string, 0, n)
			for _, m := range resp.ReceivedMessages {
				ids = append(ids, m.AckId)
			}
			if err := c.SubscriptionAdminClient.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: subscription, AckIds: ids}); err != nil {
				return got, err
			}
			got = append(got, resp.ReceivedMessages...)
			quietSince = time.Time{}
			continue
		}
		if len(got) >= want {
			if quietSince.IsZero() {
				quietSince = time.Now()
			} else if time.Since(quietSince) >= settle {
				return got, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(got) >= want {
		return got, nil
	}
	return got, fmt.Errorf("%s: %d messages after %s, want %d", subscription, len(got), timeout, want)
}
