package sqs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/tasks"
)

// Defaults of the worker.
const (
	DefaultConcurrency = 4
	DefaultRetryDelay  = 30 * time.Second // before the second delivery; doubled after each
	MaxRetryDelay      = 15 * time.Minute
	maxVisibility      = 12 * time.Hour // SQS's limit
)

// Visibility is the part of *sqs.Client the worker uses to schedule retries.
type Visibility interface {
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// Consumer processes the SQS batches an event source mapping hands a Lambda
// function with ReportBatchItemFailures: each record is run once, the
// failed ones are reported so that only they are delivered again, and a
// record that fails for good is kept as a dead letter by the runner and
// reported done. When the queue's own count of receives runs out, SQS's
// redrive policy moves the message to the dead-letter queue.
type Consumer struct {
	Runner *tasks.Runner
	// Client, when set, schedules each failed record's next delivery:
	// RetryDelay doubled per receive (with jitter), or the time a
	// RetryLaterError names. Without it a failed record comes back when
	// the queue's visibility timeout ends.
	Client      Visibility
	RetryDelay  time.Duration // 0: DefaultRetryDelay
	Concurrency int           // records processed at once; 0: DefaultConcurrency
	Logger      *slog.Logger
	Clock       func() time.Time
}

// HandleSQS implements the Lambda adapter's SQSHandler. It never fails the
// invocation for a record's sake: the answer names the records to retry.
func (c *Consumer) HandleSQS(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	n := c.Concurrency
	if n <= 0 {
		n = DefaultConcurrency
	}
	failed := make([]bool, len(ev.Records))
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i, m := range ev.Records {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			failed[i] = c.record(ctx, m) != nil
		}()
	}
	wg.Wait()
	// An empty list, not null: every record succeeded.
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	for i, f := range failed {
		if f {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: ev.Records[i].MessageId})
		}
	}
	return resp, nil
}

// record runs one message; an error means it is to be delivered again.
func (c *Consumer) record(ctx context.Context, m events.SQSMessage) error {
	attrs := make(map[string]string, len(m.MessageAttributes))
	for k, v := range m.MessageAttributes {
		if v.StringValue != nil {
			attrs[k] = *v.StringValue
		}
	}
	attempt, _ := strconv.Atoi(m.Attributes["ApproximateReceiveCount"])
	t, err := Task(m.MessageId, m.Body, attrs)
	if err != nil {
		err = c.Runner.DeadLetter(ctx, t, attempt, err)
	} else {
		err = c.Runner.Run(ctx, t, attempt)
	}
	if err != nil {
		c.scheduleRetry(ctx, m, attempt, err)
	}
	return err
}

// scheduleRetry sets when the failed message m becomes visible again.
func (c *Consumer) scheduleRetry(ctx context.Context, m events.SQSMessage, attempt int, cause error) {
	if c.Client == nil {
		return
	}
	queueURL, err := QueueURL(m.EventSourceARN)
	if err != nil {
		c.logger().WarnContext(ctx, "sqs: cannot schedule the retry", "message_id", m.MessageId, "error", err.Error())
		return
	}
	delay := c.delay(attempt)
	var later *core.RetryLaterError
	if errors.As(cause, &later) {
		delay = max(later.At.Sub(c.now()), 0)
	}
	delay = min(delay, maxVisibility-time.Second)
	_, err = c.Client.ChangeMessageVisibility(context.WithoutCancel(ctx), &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(queueURL), ReceiptHandle: aws.String(m.ReceiptHandle), VisibilityTimeout: int32(delay.Round(time.Second) / time.Second),
	})
	if err != nil {
		// The queue's visibility timeout brings it back instead.
		c.logger().WarnContext(ctx, "sqs: cannot schedule the retry", "message_id", m.MessageId, "error", err.Error())
	}
}

// delay before the delivery after the n-th: RetryDelay doubled n-1 times,
// at most MaxRetryDelay.
func (c *Consumer) delay(n int) time.Duration {
	first := c.RetryDelay
	if first <= 0 {
		first = DefaultRetryDelay
	}
	return core.Backoff{First: first, Max: MaxRetryDelay}.Delay(n)
}

// QueueURL turns a queue's ARN (arn:PARTITION:sqs:REGION:ACCOUNT:NAME)
// into the URL SQS calls take. Only the account and name in its path
// matter to SQS: the client sends the call to its own endpoint.
func QueueURL(arn string) (string, error) {
	p := strings.Split(arn, ":")
	if len(p) != 6 || p[0] != "arn" || p[2] != "sqs" || p[3] == "" || p[4] == "" || p[5] == "" {
		return "", fmt.Errorf("%q is not an SQS queue ARN", arn)
	}
	host := "sqs." + p[3] + ".amazonaws.com"
	if p[1] == "aws-cn" {
		host += ".cn"
	}
	return "https://" + host + "/" + p[4] + "/" + p[5], nil
}

func (c *Consumer) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}

func (c *Consumer) now() time.Time {
	if c.Clock != nil {
		return c.Clock()
	}
	return time.Now()
}
