// Package sqstest drives real SQS queues (moto_server in tests) the way
// Lambda's event source mapping does: create a queue with a dead-letter
// queue, receive batches, hand them to a worker as events.SQSEvent, delete
// what it did not report failed.
package sqstest

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Region is the region tests use.
const Region = "us-east-1"

// Client is an SQS client of the endpoint at url with test credentials.
func Client(url string) *sqs.Client {
	return sqs.New(sqs.Options{
		Region: Region, BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", ""),
	})
}

// Queue is a created queue.
type Queue struct {
	URL, ARN string
	DLQ      *Queue // nil without a redrive policy
}

// Create makes queue name; with maxReceives > 0 it also makes name-dlq and
// the redrive policy that moves a message there after that many receives.
func Create(ctx context.Context, c *sqs.Client, name string, visibility time.Duration, maxReceives int) (*Queue, error) {
	attrs := map[string]string{"VisibilityTimeout": strconv.Itoa(int(visibility / time.Second))}
	var dlq *Queue
	if maxReceives > 0 {
		var err error
		if dlq, err = Create(ctx, c, name+"-dlq", visibility, 0); err != nil {
			return nil, err
		}
		rp, _ := json.Marshal(map[string]any{"deadLetterTargetArn": dlq.ARN, "maxReceiveCount": maxReceives})
		attrs["RedrivePolicy"] = string(rp)
	}
	out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		return nil, fmt.Errorf("create queue %s: %w", name, err)
	}
	a, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: out.QueueUrl, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
	if err != nil {
		return nil, err
	}
	return &Queue{URL: *out.QueueUrl, ARN: a.Attributes["QueueArn"], DLQ: dlq}, nil
}

// Receive takes up to max messages (waiting up to wait for the first),
// with every attribute, as the event source mapping does.
func Receive(ctx context.Context, c *sqs.Client, q *Queue, max int, wait time.Duration) ([]types.Message, error) {
	out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(q.URL), MaxNumberOfMessages: int32(max), WaitTimeSeconds: int32(wait / time.Second),
		MessageAttributeNames:       []string{"All"},
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
	})
	if err != nil {
		return nil, err
	}
	return out.Messages, nil
}

// Event is the Lambda event holding msgs received from q.
func Event(q *Queue, msgs []types.Message) events.SQSEvent {
	var ev events.SQSEvent
	for _, m := range msgs {
		r := events.SQSMessage{
			MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body),
			Md5OfBody: aws.ToString(m.MD5OfBody), Attributes: m.Attributes, MessageAttributes: map[string]events.SQSMessageAttribute{},
			EventSourceARN: q.ARN, EventSource: "aws:sqs", AWSRegion: Region,
		}
		for k, v := range m.MessageAttributes {
			r.MessageAttributes[k] = events.SQSMessageAttribute{StringValue: v.StringValue, BinaryValue: v.BinaryValue, DataType: aws.ToString(v.DataType)}
		}
		ev.Records = append(ev.Records, r)
	}
	return ev
}

// Handler is what the worker Lambda does with a batch.
type Handler func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error)

// PollOnce receives one batch from q, runs h on it and deletes the records
// h did not report failed (all of them are left if h fails). It returns how
// many records it received.
func PollOnce(ctx context.Context, c *sqs.Client, q *Queue, h Handler, max int, wait time.Duration) (int, error) {
	msgs, err := Receive(ctx, c, q, max, wait)
	if err != nil || len(msgs) == 0 {
		return 0, err
	}
	ev := Event(q, msgs)
	resp, err := h(ctx, ev)
	if err != nil {
		return len(msgs), nil
	}
	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	for _, r := range ev.Records {
		if failed[r.MessageId] {
			continue
		}
		if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q.URL), ReceiptHandle: aws.String(r.ReceiptHandle)}); err != nil {
			return len(msgs), err
		}
	}
	return len(msgs), nil
}
