// Package sqs is the AWS queue: the receiver sends each verified, claimed
// event to an SQS queue (core.Queue) and the worker Lambda, fed by the
// queue's event source mapping, processes the batches (Worker). Clients
// come from the default AWS configuration, which honours AWS_ENDPOINT_URL.
//
// One delivery costs one message. Its body is the verified body, as is
// (base64 only in the rare case SQS could not carry it: invalid UTF-8 or
// characters SQS refuses); its message attributes name the delivery
// (webhook_id, the idempotency key the worker's dead letters use), the
// scheme and, for people, the event type and job id.
package sqs

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/geminiwebhooks/receiver/adapters/internal/queueattr"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/tasks"
)

// Sender is the part of *sqs.Client the queue uses.
type Sender interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// Queue sends events to one queue.
type Queue struct {
	client Sender
	url    string
	fifo   bool
	clock  func() time.Time
}

var _ core.Queue = (*Queue)(nil)

// New sends to the queue at queueURL with client (built once per process).
func New(client Sender, queueURL string) (*Queue, error) {
	u, err := url.Parse(queueURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.Count(strings.Trim(u.Path, "/"), "/") != 1 {
		return nil, fmt.Errorf("sqs queue URL %q: want https://sqs.REGION.amazonaws.com/ACCOUNT/NAME", queueURL)
	}
	return &Queue{client: client, url: queueURL, fifo: strings.HasSuffix(u.Path, ".fifo"), clock: time.Now}, nil
}

// Enqueue sends ev and returns once SQS has stored it. A FIFO queue gets
// the delivery as its own message group (no ordering is needed: the job
// ledger applies events in any order, and one group per delivery means a
// failing message holds back nothing) and a deduplication id derived from
// the delivery id, so a send repeated within five minutes is dropped.
func (q *Queue) Enqueue(ctx context.Context, ev *core.Event) error {
	in := SendInput(q.url, ev, q.clock())
	if q.fifo {
		sum := sha256.Sum256([]byte(ev.Delivery.ID))
		id := hex.EncodeToString(sum[:]) // ids may be 256 bytes of anything; SQS takes 128 of [!-~]
		in.MessageDeduplicationId, in.MessageGroupId = aws.String(id), aws.String(id)
	}
	if _, err := q.client.SendMessage(ctx, in); err != nil {
		return fmt.Errorf("sqs send %s: %w", ev.Delivery.ID, err)
	}
	return nil
}

// SendInput is the message that carries ev to queueURL.
func SendInput(queueURL string, ev *core.Event, now time.Time) *sqs.SendMessageInput {
	attrs := map[string]types.MessageAttributeValue{}
	for k, v := range queueattr.Of(ev, now) {
		attrs[k] = str(v)
	}
	body := string(ev.Raw)
	if !carriable(body) {
		body = base64.StdEncoding.EncodeToString(ev.Raw)
		attrs[queueattr.Encoding] = str("base64")
	}
	return &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(body), MessageAttributes: attrs}
}

func str(s string) types.MessageAttributeValue {
	return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(s)}
}

// carriable: SQS accepts #x9 #xA #xD, #x20–#xD7FF, #xE000–#xFFFD,
// #x10000–#x10FFFF, in valid UTF-8, and at least one character.
func carriable(s string) bool {
	if s == "" || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		switch {
		case r == 0x9, r == 0xA, r == 0xD:
		case r >= 0x20 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD, r >= 0x10000 && r <= 0x10FFFF:
		default:
			return false
		}
	}
	return true
}

// Task rebuilds the queued task from a delivered message's id, body and
// string attributes. A message sent by hand without the delivery id (an
// operator replaying a body) is processed under "sqs:" and its message id.
// A body that does not decode can never succeed: the error wraps
// core.ErrPermanent and the task holds the body as received.
func Task(messageID, body string, attrs map[string]string) (tasks.Task, error) {
	t := queueattr.Task("sqs", messageID, []byte(body), attrs)
	switch enc := attrs[queueattr.Encoding]; enc {
	case "":
	case "base64":
		b, err := base64.StdEncoding.DecodeString(body)
		if err != nil {
			return t, fmt.Errorf("%w: sqs message body is not base64: %v", core.ErrPermanent, err)
		}
		t.Body = b
	default:
		return t, fmt.Errorf("%w: sqs message in unknown encoding %q", core.ErrPermanent, enc)
	}
	return t, nil
}
