package sqs_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/geminiwebhooks/receiver/adapters/internal/sqs"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
	"github.com/geminiwebhooks/receiver/scripts/testenv/sqstest"
)

var moto struct {
	once sync.Once
	svc  *testenv.Service
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if moto.svc != nil {
		moto.svc.Stop()
	}
	os.Exit(code)
}

func motoClient(t *testing.T) *awssqs.Client {
	t.Helper()
	moto.once.Do(func() { moto.svc, moto.err = testenv.StartMoto(context.Background()) })
	if moto.err != nil {
		t.Fatal(moto.err)
	}
	return sqstest.Client("http://" + moto.svc.Host)
}

func event(t *testing.T, id string, body []byte) *core.Event {
	t.Helper()
	ev, err := core.ParseEvent(body)
	if err != nil {
		t.Fatal(err)
	}
	ev.Delivery = core.Delivery{ID: id, Scheme: core.SchemeStatic}
	return ev
}

// A body goes as is when SQS can carry it, else as base64; either way the
// task rebuilt from the message is the one queued.
func TestMessageRoundTrip(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		name   string
		body   string
		base64 bool
	}{
		{"plain JSON", `{"type":"batch.failed","version":"v1","data":{"id":"batches/a","error_message":"é ✓ 🙂"}}`, false},
		{"invalid UTF-8 in a string", "{\"type\":\"batch.failed\",\"version\":\"v1\",\"data\":{\"id\":\"batches/b\",\"error_message\":\"\xff\"}}", true},
		{"a character SQS refuses", "{\"type\":\"batch.failed\",\"version\":\"v1\",\"data\":{\"id\":\"batches/c\",\"error_message\":\"\uffff\"}}", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := sqs.SendInput("https://sqs.us-east-1.amazonaws.com/1/q", event(t, "msg_rt", []byte(c.body)), now)
			attrs := map[string]string{}
			for k, v := range in.MessageAttributes {
				attrs[k] = aws.ToString(v.StringValue)
			}
			if (attrs["content_encoding"] == "base64") != c.base64 || (aws.ToString(in.MessageBody) == c.body) == c.base64 {
				t.Fatalf("body %q, attributes %v; want base64 %v", aws.ToString(in.MessageBody), attrs, c.base64)
			}
			task, err := sqs.Task("m1", aws.ToString(in.MessageBody), attrs)
			if err != nil || task.ID != "msg_rt" || task.Scheme != core.SchemeStatic || string(task.Body) != c.body || !task.EnqueuedAt.Equal(now) {
				t.Fatalf("task %+v %v", task, err)
			}
		})
	}
	if task, err := sqs.Task("m2", "{}", nil); err != nil || task.ID != "sqs:m2" {
		t.Fatalf("message without attributes: %+v %v", task, err)
	}
	if _, err := sqs.Task("m3", "not base64!", map[string]string{"webhook_id": "x", "content_encoding": "base64"}); err == nil || !strings.Contains(err.Error(), "permanent") {
		t.Fatalf("undecodable body: %v", err)
	}
	if _, err := sqs.Task("m4", base64.StdEncoding.EncodeToString([]byte("{}")), map[string]string{"webhook_id": "x", "content_encoding": "gzip"}); err == nil {
		t.Fatal("unknown encoding accepted")
	}
}

// On a FIFO queue (moto_server) the same delivery sent twice, as after a
// publish that timed out and was retried, is one message.
func TestFIFODeduplicatesADelivery(t *testing.T) {
	c := motoClient(t)
	ctx := context.Background()
	out, err := c.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String(fmt.Sprintf("fifo-%d.fifo", time.Now().UnixNano()%1e9)),
		Attributes: map[string]string{"FifoQueue": "true"}})
	if err != nil {
		t.Fatal(err)
	}
	q, err := sqs.New(c, *out.QueueUrl)
	if err != nil {
		t.Fatal(err)
	}
	long := "msg_" + strings.Repeat("x", 250) // longer than a deduplication id may be
	for _, id := range []string{long, long, "msg_other"} {
		if err := q.Enqueue(ctx, event(t, id, []byte(`{"type":"batch.expired","version":"v1","data":{"id":"batches/f"}}`))); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	for range 3 {
		msgs, err := sqstest.Receive(ctx, c, &sqstest.Queue{URL: *out.QueueUrl}, 10, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			ids = append(ids, aws.ToString(m.MessageAttributes["webhook_id"].StringValue))
		}
	}
	if len(ids) != 2 {
		t.Fatalf("%d messages (%d bytes of ids), want 2: one per delivery", len(ids), len(strings.Join(ids, "")))
	}
}

func TestQueueURL(t *testing.T) {
	for arn, want := range map[string]string{
		"arn:aws:sqs:eu-west-1:123456789012:gemini-tasks":       "https://sqs.eu-west-1.amazonaws.com/123456789012/gemini-tasks",
		"arn:aws-cn:sqs:cn-north-1:123456789012:t.fifo":         "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/t.fifo",
		"arn:aws:sns:eu-west-1:123456789012:topic":              "",
		"arn:aws:sqs:eu-west-1:123456789012":                    "",
		"https://sqs.eu-west-1.amazonaws.com/123456789012/q":    "",
		"arn:aws:sqs:eu-west-1:123456789012:gemini-tasks:extra": "",
	} {
		got, err := sqs.QueueURL(arn)
		if got != want || (err == nil) != (want != "") {
			t.Errorf("QueueURL(%q) = %q, %v; want %q", arn, got, err, want)
		}
	}
}

func TestNewRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"", "q", "sqs.us-east-1.amazonaws.com/1/q", "https://sqs.us-east-1.amazonaws.com/q", "https://sqs.us-east-1.amazonaws.com/1/q/x", "ftp://h/1/q"} {
		if _, err := sqs.New(nil, u); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
}
