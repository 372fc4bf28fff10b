package lambdarie

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/geminiwebhooks/receiver/adapters/gemini/geminitest"
	"github.com/geminiwebhooks/receiver/adapters/internal/sqs"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
	"github.com/geminiwebhooks/receiver/scripts/testenv/sqstest"
)

// TestSQSWorkerUnderRIE runs the bootstrap as the worker function is
// deployed (no signing secret, the queue's event source mapping with
// ReportBatchItemFailures) under the Runtime Interface Emulator, with a
// batch received from a real queue (moto_server): one record lands its
// output in S3, one fails for now, one can never succeed. The answer names
// exactly the one that failed for now; the worker schedules its retry
// (RETRY_BACKOFF) and keeps the poison one as a dead letter.
func TestSQSWorkerUnderRIE(t *testing.T) {
	ctx := context.Background()
	client := sqstest.Client(motoURL)
	q, err := sqstest.Create(ctx, client, fmt.Sprintf("rie-tasks-%d", time.Now().UnixNano()%1e9), 30*time.Second, 5)
	if err != nil {
		t.Fatal(err)
	}
	s3c := s3.New(s3.Options{Region: sqstest.Region, BaseEndpoint: aws.String(motoURL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")})
	bucket := fmt.Sprintf("rie-results-%d", time.Now().UnixNano()%1e9)
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	api := geminitest.New("rie-key")
	defer api.Close()
	f := geminitest.File{Name: "files/rie-out", Size: 2<<20 + 5, Seed: 51}
	api.AddFile(f)
	api.AddBatch("batches/rie-good", geminitest.Batch{State: "BATCH_STATE_SUCCEEDED", OutputFile: f.Name})
	api.AddBatch("batches/rie-bad", geminitest.Batch{State: "BATCH_STATE_SUCCEEDED", OutputFile: "files/not-yet"})

	// The receiver's side: two events enqueued as the receiver enqueues them,
	// and a poison message sent by hand.
	queue, err := sqs.New(client, q.URL)
	if err != nil {
		t.Fatal(err)
	}
	for id, body := range map[string]string{
		"msg_rie_good": `{"type":"batch.succeeded","version":"v1","data":{"id":"batches/rie-good"}}`,
		"msg_rie_bad":  `{"type":"batch.succeeded","version":"v1","data":{"id":"batches/rie-bad"}}`,
	} {
		ev, err := core.ParseEvent([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		ev.Delivery = core.Delivery{ID: id, Scheme: core.SchemeStatic}
		if err := queue.Enqueue(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(q.URL), MessageBody: aws.String("not an event"),
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{"webhook_id": {DataType: aws.String("String"), StringValue: aws.String("msg_rie_poison")}}}); err != nil {
		t.Fatal(err)
	}
	var msgs []sqstypes.Message
	for deadline := time.Now().Add(20 * time.Second); len(msgs) < 3 && time.Now().Before(deadline); {
		got, err := sqstest.Receive(ctx, client, q, 3-len(msgs), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, got...)
	}
	if len(msgs) != 3 {
		t.Fatalf("received %d messages, want 3", len(msgs))
	}
	batch := sqstest.Event(q, msgs)
	var bad string
	for _, r := range batch.Records {
		if aws.ToString(r.MessageAttributes["webhook_id"].StringValue) == "msg_rie_bad" {
			bad = r.MessageId
		}
	}

	r := startRIE(t, map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME": "gemini-webhook-worker", "AWS_LAMBDA_FUNCTION_TIMEOUT": "60",
		"IDEMPOTENCY_STORE": "memory", "AWS_ENDPOINT_URL": motoURL, "QUEUE": "sqs:" + q.URL,
		"GEMINI_API_KEY": "rie-key", "GOOGLE_GEMINI_BASE_URL": api.URL, "RESULTS_SINK": "s3://" + bucket + "/gemini",
		"RETRY_BACKOFF": "1s",
	})
	start := time.Now()
	out := r.invoke(t, batch)
	took := time.Since(start)
	var resp events.SQSEventResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("answer %s: %v\nstdout:\n%s\nstderr:\n%s", out, err, r.Stdout, r.Svc.LogText())
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != bad {
		t.Fatalf("batchItemFailures %+v, want exactly %s (msg_rie_bad)\nstdout:\n%s", resp.BatchItemFailures, bad, r.Stdout)
	}
	t.Logf("RIE: a batch of 3 (one %d MiB landing to S3) answered in %s", f.Size>>20, took.Round(time.Millisecond))

	// The good record landed, byte for byte, with its manifest.
	obj, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("gemini/batches/rie-good/results.jsonl")})
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, _ := io.Copy(h, obj.Body)
	obj.Body.Close()
	want := geminitest.Expect(f)
	if n != want.Bytes || hex.EncodeToString(h.Sum(nil)) != want.SHA256 {
		t.Fatalf("landed %d bytes, want %d byte for byte", n, want.Bytes)
	}
	man, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("gemini/batches/rie-good/manifest.json")})
	if err != nil {
		t.Fatal(err)
	}
	var m jobs.Manifest
	json.NewDecoder(man.Body).Decode(&m)
	man.Body.Close()
	if m.SHA256 != want.SHA256 || m.URI != "s3://"+bucket+"/gemini/batches/rie-good/results.jsonl" {
		t.Fatalf("manifest %+v", m)
	}

	// The failed record comes back after RETRY_BACKOFF (the worker changed
	// its visibility; the queue's own is 30 s), on its second receive.
	var again []sqstypes.Message
	for deadline := time.Now().Add(10 * time.Second); len(again) == 0 && time.Now().Before(deadline); {
		if again, err = sqstest.Receive(ctx, client, q, 10, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if len(again) != 1 || aws.ToString(again[0].MessageId) != bad || again[0].Attributes["ApproximateReceiveCount"] != "2" {
		t.Fatalf("after the backoff the queue gives %d messages (%v), want %s again", len(again), again, bad)
	}
	logs := r.Stdout.String()
	for _, want := range []string{`"webhook_id":"msg_rie_poison"`, `"outcome":"dead_letter"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("no %s in the worker's log:\n%s", want, logs)
		}
	}
}
