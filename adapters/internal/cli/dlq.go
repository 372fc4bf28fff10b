package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/geminiwebhooks/receiver/adapters/internal/admin"
	"github.com/geminiwebhooks/receiver/adapters/internal/aws"
	"github.com/geminiwebhooks/receiver/adapters/internal/env"
	"github.com/geminiwebhooks/receiver/adapters/internal/queueattr"
	"github.com/geminiwebhooks/receiver/adapters/internal/sqs"
	"github.com/geminiwebhooks/receiver/core"
)

// sqsDLQ is the dead-letter queue behind QUEUE=sqs:<url>, found through the
// task queue's redrive policy (nothing more to configure).
type sqsDLQ struct {
	client   *awssqs.Client
	queueURL string
	dlqURL   string
}

// sqsKeyPrefix marks the dead letters that are SQS messages.
const sqsKeyPrefix = "sqs-dlq:"

// maxPeek bounds how many DLQ messages one command looks at.
const maxPeek = 1000

func openSQSDLQ(ctx context.Context, cfg env.Config) (*sqsDLQ, error) {
	if cfg.QueueKind != env.QueueSQS {
		return nil, nil
	}
	c, err := (&aws.Clients{}).SQS(ctx)
	if err != nil {
		return nil, err
	}
	out, err := c.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: awssdk.String(cfg.QueueTarget),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameRedrivePolicy}})
	if err != nil {
		return nil, fmt.Errorf("QUEUE %s: %w", cfg.QueueTarget, err)
	}
	var rp struct {
		Target string `json:"deadLetterTargetArn"`
	}
	if p := out.Attributes[string(types.QueueAttributeNameRedrivePolicy)]; p == "" || json.Unmarshal([]byte(p), &rp) != nil || rp.Target == "" {
		return &sqsDLQ{client: c, queueURL: cfg.QueueTarget}, nil // no DLQ behind it
	}
	// arn:aws:sqs:REGION:ACCOUNT:NAME
	parts := strings.Split(rp.Target, ":")
	if len(parts) != 6 {
		return nil, fmt.Errorf("QUEUE %s: redrive target %q is not an SQS queue ARN", cfg.QueueTarget, rp.Target)
	}
	u, err := c.GetQueueUrl(ctx, &awssqs.GetQueueUrlInput{QueueName: awssdk.String(parts[5]), QueueOwnerAWSAccountId: awssdk.String(parts[4])})
	if err != nil {
		return nil, fmt.Errorf("dead-letter queue %s: %w", rp.Target, err)
	}
	return &sqsDLQ{client: c, queueURL: cfg.QueueTarget, dlqURL: awssdk.ToString(u.QueueUrl)}, nil
}

// depth is a queue's ApproximateNumberOfMessages.
func (q *sqsDLQ) depth(ctx context.Context, url string) (int, error) {
	out, err := q.client.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: awssdk.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages}})
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)])
}

// openQueueDLQ is the dead-letter queue behind QUEUE; nil without one.
func openQueueDLQ(ctx context.Context, cfg env.Config) (admin.QueueDLQ, func(), error) {
	switch cfg.QueueKind {
	case env.QueueSQS:
		q, err := openSQSDLQ(ctx, cfg)
		if err != nil || q.dlqURL == "" {
			return nil, func() {}, err
		}
		return q, func() {}, nil
	case env.QueuePubSub:
		q, err := openPubSubDLQ(ctx, cfg)
		if err != nil {
			return nil, func() {}, err
		}
		return q, func() { q.client.Close() }, nil
	}
	return nil, func() {}, nil
}

// peek receives the DLQ's messages (hidden for a minute while the command
// runs); release makes those not deleted visible again at once.
func (q *sqsDLQ) Peek(ctx context.Context) ([]admin.QueuedDead, error) {
	var out []admin.QueuedDead
	for len(out) < maxPeek {
		r, err := q.client.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: awssdk.String(q.dlqURL), MaxNumberOfMessages: 10,
			VisibilityTimeout: 60, WaitTimeSeconds: 0, MessageAttributeNames: []string{"All"},
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll}})
		if err != nil {
			return out, err
		}
		if len(r.Messages) == 0 {
			break
		}
		for _, m := range r.Messages {
			attrs := map[string]string{}
			for k, v := range m.MessageAttributes {
				attrs[k] = awssdk.ToString(v.StringValue)
			}
			id := awssdk.ToString(m.MessageId)
			t, terr := sqs.Task(id, awssdk.ToString(m.Body), attrs)
			d := core.DeadLetter{Key: sqsKeyPrefix + id, Scheme: t.Scheme, EventType: attrs[queueattr.EventType], Body: t.Body,
				Reason: "in the SQS dead-letter queue after " + cmp.Or(m.Attributes["ApproximateReceiveCount"], "?") + " receives (delivery " + t.ID + ")"}
			if terr != nil {
				d.Reason = terr.Error()
			}
			if ms, err := strconv.ParseInt(m.Attributes["SentTimestamp"], 10, 64); err == nil {
				d.ReceivedAt = time.UnixMilli(ms)
			}
			if !t.EnqueuedAt.IsZero() {
				d.ReceivedAt = t.EnqueuedAt
			}
			out = append(out, admin.QueuedDead{DeadLetter: d, Receipt: awssdk.ToString(m.ReceiptHandle), Delivery: t.ID})
		}
	}
	return out, nil
}

func (q *sqsDLQ) Release(ctx context.Context, ms []admin.QueuedDead) {
	for _, m := range ms {
		_, _ = q.client.ChangeMessageVisibility(context.WithoutCancel(ctx), &awssqs.ChangeMessageVisibilityInput{
			QueueUrl: awssdk.String(q.dlqURL), ReceiptHandle: awssdk.String(m.Receipt), VisibilityTimeout: 0})
	}
}

func (q *sqsDLQ) Remove(ctx context.Context, m admin.QueuedDead) error {
	_, err := q.client.DeleteMessage(ctx, &awssqs.DeleteMessageInput{QueueUrl: awssdk.String(q.dlqURL), ReceiptHandle: awssdk.String(m.Receipt)})
	return err
}
