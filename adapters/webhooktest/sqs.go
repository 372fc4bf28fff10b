package webhooktest

import (
	"fmt"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/geminiwebhooks/receiver/adapters/internal/sqs"
	"github.com/geminiwebhooks/receiver/core"
)

// SQSMessage is the message the receiver puts on its SQS queue (QUEUE=sqs)
// for ev, received with the static scheme, as the Lambda's queue trigger
// hands it to the function: for a test that invokes a Lambda (under the
// Runtime Interface Emulator, say) with a batch of queued deliveries. Only
// ev.ID and ev.Body are read; the message id is ev.ID with "-sqs" appended.
func SQSMessage(ev Event) (events.SQSMessage, error) {
	parsed, err := core.ParseEvent(ev.Body)
	if err != nil {
		return events.SQSMessage{}, fmt.Errorf("webhooktest: SQSMessage: %w", err)
	}
	parsed.Delivery = core.Delivery{ID: ev.ID, Scheme: core.SchemeStatic}
	in := sqs.SendInput("https://sqs.us-east-1.amazonaws.com/000000000000/webhooktest", parsed, time.Now())
	m := events.SQSMessage{MessageId: ev.ID + "-sqs", Body: *in.MessageBody, EventSource: "aws:sqs",
		MessageAttributes: map[string]events.SQSMessageAttribute{}}
	for k, v := range in.MessageAttributes {
		m.MessageAttributes[k] = events.SQSMessageAttribute{DataType: *v.DataType, StringValue: v.StringValue}
	}
	return m, nil
}
