package wire_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/internal/aws"
	"github.com/geminiwebhooks/receiver/adapters/internal/gcs"

	ps "cloud.google.com/go/pubsub/v2"
	"github.com/aws/aws-lambda-go/events"
	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/geminiwebhooks/receiver/adapters/gemini/geminitest"
	"github.com/geminiwebhooks/receiver/adapters/internal/env"
	"github.com/geminiwebhooks/receiver/adapters/internal/pubsub"
	"github.com/geminiwebhooks/receiver/adapters/internal/sqs"
	"github.com/geminiwebhooks/receiver/adapters/internal/wire"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
	"github.com/geminiwebhooks/receiver/scripts/testenv/pubsubtest"
	"github.com/geminiwebhooks/receiver/scripts/testenv/sqstest"
)

// The queued paths with the real services on loopback: the receiver as
// wire builds it with QUEUE set, the Pub/Sub emulator and moto_server (SQS,
// S3), the worker as wire builds it, fed the way SQS's event source
// mapping feeds a Lambda.

// services are started by the first test that needs them and stopped by TestMain.
var services struct {
	mu        sync.Mutex
	pubsub    *testenv.Service
	moto      *testenv.Service
	firestore *testenv.Service
}

func TestMain(m *testing.M) {
	code := m.Run()
	services.mu.Lock()
	for _, s := range []*testenv.Service{services.pubsub, services.moto, services.firestore} {
		if s != nil {
			s.Stop()
		}
	}
	services.mu.Unlock()
	os.Exit(code)
}

func service(t testing.TB, s **testenv.Service, start func(context.Context) (*testenv.Service, error)) string {
	t.Helper()
	services.mu.Lock()
	defer services.mu.Unlock()
	if *s == nil {
		svc, err := start(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		*s = svc
	}
	return (*s).Host
}

// pubsubClient points the process (the receiver's client too) at the
// emulator and returns an admin client of project.
func pubsubClient(t testing.TB, project string) *ps.Client {
	t.Helper()
	t.Setenv("PUBSUB_EMULATOR_HOST", service(t, &services.pubsub, testenv.StartPubSub))
	c, err := ps.NewClient(context.Background(), project)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// motoEnv points the process's AWS configuration at moto_server.
func motoEnv(t testing.TB) string {
	t.Helper()
	url := "http://" + service(t, &services.moto, testenv.StartMoto)
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": url, "AWS_REGION": sqstest.Region, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
		"AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull, "AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
	return url
}

func motoS3(url string) *s3.Client {
	return s3.New(s3.Options{Region: sqstest.Region, BaseEndpoint: awssdk.String(url), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")})
}

// uniq names a test's cloud resources.
func uniq(prefix string) string { return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1e12) }

// testCloud is every queue and sink, as the local server has them,
// pointed at the emulators a test started (t.Setenv of their switches).
func testCloud() wire.Cloud {
	return wire.AWSCloud(&aws.Clients{S3EndpointURL: os.Getenv("AWS_ENDPOINT_URL_S3")}).Merge(
		wire.GoogleCloud(pubsub.Publisher{EmulatorHost: os.Getenv("PUBSUB_EMULATOR_HOST")}.Open, &gcs.Clients{EmulatorHost: os.Getenv("STORAGE_EMULATOR_HOST")}))
}

// queueWorker is a built app seen as a queue worker.
type queueWorker struct{ *wire.App }

// SQS is the Lambda's SQS batch handler over the app's runner, as
// adapters/lambda builds it.
func (w queueWorker) SQS(ctx context.Context) (*sqs.Consumer, error) {
	client, err := (&aws.Clients{}).SQS(ctx)
	if err != nil {
		return nil, err
	}
	sw := &sqs.Consumer{Runner: w.Runner, Client: client}
	if w.Config.RetryBackoffSet {
		sw.RetryDelay = w.Config.RetryBackoff
	}
	return sw, nil
}

// startWorker builds the queue worker from vars, as the worker functions do.
func startWorker(t testing.TB, vars map[string]string) queueWorker {
	t.Helper()
	cfg, err := env.Load(func(k string) string { return vars[k] }, env.Memory)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	app, err := wire.Build(context.Background(), cfg, nil, wire.Options{Logger: log, Cloud: testCloud()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	return queueWorker{app}
}

// checkAttrs: the message carries the delivery as the receiver verified it.
func checkAttrs(t *testing.T, attrs map[string]string, id, typ, job string, sent time.Time) {
	t.Helper()
	if attrs["webhook_id"] != id || attrs["scheme"] != "static" || attrs["event_type"] != typ || attrs["job_id"] != job {
		t.Errorf("attributes %v; want webhook_id %s, scheme static, event_type %s, job_id %s", attrs, id, typ, job)
	}
	if at, err := time.Parse(time.RFC3339Nano, attrs["enqueued_at"]); err != nil || at.Before(sent.Add(-time.Second)) || at.After(time.Now()) {
		t.Errorf("enqueued_at %q: %v", attrs["enqueued_at"], err)
	}
}

// A delivery to the receiver with QUEUE=pubsub:… is answered 202 after
// exactly one message is published; its retry is a duplicate and publishes
// nothing. While the topic is missing the delivery is answered 503 and its
// claim released, so Gemini's retry is queued once the topic exists.
func TestPubSubReceiverEnqueuesOnce(t *testing.T) {
	const project = "wire-queue-proof"
	c := pubsubClient(t, project)
	ctx := context.Background()
	topicID := uniq("events")
	topic := "projects/" + project + "/topics/" + topicID
	api := geminitest.New(apiKey)
	defer api.Close()
	r := start(t, api, map[string]string{"QUEUE": "pubsub:" + topic, "IDEMPOTENCY_STORE": "memory"})

	body := batchEvent("batch.succeeded", "batches/ps", "files/out-ps")
	if st := r.deliver("msg_ps_1", body); st != http.StatusServiceUnavailable {
		t.Fatalf("delivery while the topic is missing: %d, want 503", st)
	}
	s, err := pubsubtest.Create(ctx, c, topicID, pubsubtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	if st := r.deliver("msg_ps_1", body); st != http.StatusAccepted {
		t.Fatalf("Gemini's retry: %d, want 202 (queued)", st)
	}
	if st := r.deliver("msg_ps_1", body); st != http.StatusOK {
		t.Fatalf("a second retry: %d, want 200 (duplicate)", st)
	}
	msgs, err := pubsubtest.Pull(ctx, c, s.Subscription, 1, time.Second, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("%d messages published, want 1", len(msgs))
	}
	m := msgs[0].Message
	if string(m.Data) != string(body) {
		t.Errorf("data %q, want the verified body %q", m.Data, body)
	}
	checkAttrs(t, m.Attributes, "msg_ps_1", "batch.succeeded", "batches/ps", sent)
	if m.OrderingKey != "" {
		t.Errorf("ordering key %q, want none", m.OrderingKey)
	}
	if api.TotalDownloads() != 0 || api.BatchGets("batches/ps") != 0 {
		t.Error("the receiver acted on the event itself")
	}
}

// The same with QUEUE=sqs:….
func TestSQSReceiverEnqueuesOnce(t *testing.T) {
	url := motoEnv(t)
	client := sqstest.Client(url)
	ctx := context.Background()
	name := uniq("events")
	missing := url + "/123456789012/" + name
	api := geminitest.New(apiKey)
	defer api.Close()
	r := start(t, api, map[string]string{"QUEUE": "sqs:" + missing, "IDEMPOTENCY_STORE": "memory"})

	body := batchEvent("video.generated", "", "")
	body = []byte(strings.Replace(string(body), `"id":""`, `"id":"models/veo/operations/op1","file_id":"files/vid1"`, 1))
	if st := r.deliver("msg_sqs_1", body); st != http.StatusServiceUnavailable {
		t.Fatalf("delivery while the queue is missing: %d, want 503", st)
	}
	q, err := sqstest.Create(ctx, client, name, 30*time.Second, 0)
	if err != nil {
		t.Fatal(err)
	}
	if q.URL != missing {
		t.Fatalf("queue URL %s, want %s", q.URL, missing)
	}
	sent := time.Now()
	if st := r.deliver("msg_sqs_1", body); st != http.StatusAccepted {
		t.Fatalf("Gemini's retry: %d, want 202 (queued)", st)
	}
	if st := r.deliver("msg_sqs_1", body); st != http.StatusOK {
		t.Fatalf("a second retry: %d, want 200 (duplicate)", st)
	}
	var got []string
	for range 3 {
		msgs, err := sqstest.Receive(ctx, client, q, 10, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			got = append(got, awssdk.ToString(m.Body))
			attrs := map[string]string{}
			for k, v := range m.MessageAttributes {
				attrs[k] = awssdk.ToString(v.StringValue)
			}
			checkAttrs(t, attrs, "msg_sqs_1", "video.generated", "models/veo/operations/op1", sent)
		}
	}
	if len(got) != 1 || got[0] != string(body) {
		t.Fatalf("messages %q, want the one verified body", got)
	}
}

// landedS3 waits until the job's manifest is in the bucket and checks the
// output against what the stand-in served, byte for byte.
func landedS3(t *testing.T, c *s3.Client, bucket, prefix, job string, f geminitest.File) jobs.Manifest {
	t.Helper()
	ctx := context.Background()
	dir := prefix + "/" + jobs.JobPath(job)
	var mb []byte
	for deadline := time.Now().Add(30 * time.Second); ; {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: awssdk.String(bucket), Key: awssdk.String(dir + "/manifest.json")})
		if err == nil {
			mb, _ = io.ReadAll(out.Body)
			out.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no manifest for %s: %v", job, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	var m jobs.Manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		t.Fatal(err)
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: awssdk.String(bucket), Key: awssdk.String(dir + "/results.jsonl")})
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, _ := io.Copy(h, out.Body)
	out.Body.Close()
	want := geminitest.Expect(f)
	if n != want.Bytes || hex.EncodeToString(h.Sum(nil)) != want.SHA256 {
		t.Fatalf("landed %d bytes with another digest; want %d bytes, sha256 %s", n, want.Bytes, want.SHA256)
	}
	if m.SHA256 != want.SHA256 || m.Bytes != want.Bytes || m.Lines != want.Lines || m.FailedLines != want.FailedLines ||
		m.URI != "s3://"+bucket+"/"+dir+"/results.jsonl" || m.JobID != job || m.Source != f.Name {
		t.Fatalf("manifest %+v, want %+v", m, want)
	}
	return m
}

// The SQS path end to end: receiver → SQS → worker (fed as Lambda's event
// source mapping feeds it) → S3, landing the output once although the
// message is delivered twice.
func TestSQSPathLandsOnceInS3(t *testing.T) {
	url := motoEnv(t)
	client := sqstest.Client(url)
	ctx := context.Background()
	q, err := sqstest.Create(ctx, client, uniq("tasks"), 30*time.Second, 5)
	if err != nil {
		t.Fatal(err)
	}
	bucket := uniq("results")
	s3c := motoS3(url)
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: awssdk.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	api := geminitest.New(apiKey)
	defer api.Close()
	f := geminitest.File{Name: "files/out-sqs", Size: 10<<20 + 3, Seed: 11} // two S3 parts
	api.AddFile(f)
	api.AddBatch("batches/sqs", geminitest.Batch{State: "BATCH_STATE_SUCCEEDED", OutputFile: f.Name})

	r := start(t, api, map[string]string{"QUEUE": "sqs:" + q.URL, "IDEMPOTENCY_STORE": "memory"})
	w := startWorker(t, map[string]string{
		"GEMINI_API_KEY": apiKey, "GOOGLE_GEMINI_BASE_URL": api.URL, "RESULTS_SINK": "s3://" + bucket + "/gemini", "QUEUE": "sqs:" + q.URL,
	})
	sw, err := w.SQS(ctx)
	if err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	if st := r.deliver("msg_sqs_land", batchEvent("batch.succeeded", "batches/sqs", f.Name)); st != http.StatusAccepted {
		t.Fatalf("status %d, want 202", st)
	}
	answered := time.Since(start)
	var batch events.SQSEvent
	for batch.Records == nil {
		msgs, err := sqstest.Receive(ctx, client, q, 10, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) > 0 {
			batch = sqstest.Event(q, msgs)
		}
		if time.Since(start) > 20*time.Second {
			t.Fatal("nothing on the queue")
		}
	}
	resp, err := sw.HandleSQS(ctx, batch)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("worker: %+v %v", resp, err)
	}
	landedS3(t, s3c, bucket, "gemini", "batches/sqs", f)
	t.Logf("SQS path: delivery → 202 in %s; delivery → landed in S3 (%d MiB, manifest written) in %s",
		answered.Round(100*time.Microsecond), f.Size>>20, time.Since(start).Round(time.Millisecond))

	// The queue delivers the message again (a lost delete, a timeout):
	// acknowledged, nothing downloaded or written twice.
	resp, err = sw.HandleSQS(ctx, batch)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("redelivery: %+v %v", resp, err)
	}
	if api.Downloads(f.Name) != 1 {
		t.Fatalf("%d downloads, want 1", api.Downloads(f.Name))
	}
	list, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: awssdk.String(bucket)})
	if err != nil || len(list.Contents) != 2 {
		t.Fatalf("bucket holds %d objects (%v), want the output and its manifest", len(list.Contents), err)
	}
	j, _ := w.Processing.Ledger.GetJob(ctx, "batches/sqs")
	if j == nil || j.Landing != jobs.LandingLanded || j.LandingAttempts != 1 || fmt.Sprint(j.Deliveries) != "[msg_sqs_land]" {
		t.Fatalf("ledger %+v", j)
	}
}

// One batch, three records: one lands, one fails for now (its output is
// not there yet), one can never succeed (not an event). Only the second is
// reported failed; the third is kept as a dead letter and acknowledged.
func TestSQSWorkerReportsOnlyFailedRecords(t *testing.T) {
	url := motoEnv(t)
	client := sqstest.Client(url)
	ctx := context.Background()
	q, err := sqstest.Create(ctx, client, uniq("tasks"), 30*time.Second, 0)
	if err != nil {
		t.Fatal(err)
	}
	api := geminitest.New(apiKey)
	defer api.Close()
	f := geminitest.File{Name: "files/out-good", Size: 4096, Seed: 12}
	api.AddFile(f)
	api.AddBatch("batches/good", geminitest.Batch{State: "BATCH_STATE_SUCCEEDED", OutputFile: f.Name})
	api.AddBatch("batches/bad", geminitest.Batch{State: "BATCH_STATE_SUCCEEDED", OutputFile: "files/not-yet"})
	w := startWorker(t, map[string]string{"GEMINI_API_KEY": apiKey, "GOOGLE_GEMINI_BASE_URL": api.URL, "RESULTS_SINK": t.TempDir()})
	sw, err := w.SQS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	send := func(id string, body string) {
		attrs := map[string]string{"webhook_id": id, "scheme": "static"}
		in := &awssqs.SendMessageInput{QueueUrl: awssdk.String(q.URL), MessageBody: awssdk.String(body)}
		in.MessageAttributes = map[string]sqstypes.MessageAttributeValue{}
		for k, v := range attrs {
			in.MessageAttributes[k] = sqstypes.MessageAttributeValue{DataType: awssdk.String("String"), StringValue: awssdk.String(v)}
		}
		if _, err := client.SendMessage(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	send("msg_good", string(batchEvent("batch.succeeded", "batches/good", f.Name)))
	send("msg_bad", string(batchEvent("batch.succeeded", "batches/bad", "files/not-yet")))
	send("msg_poison", "not an event")
	msgs := receiveN(t, client, q, 3)
	ev := sqstest.Event(q, msgs)
	resp, err := sw.HandleSQS(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	var bad string
	for _, r := range ev.Records {
		if *r.MessageAttributes["webhook_id"].StringValue == "msg_bad" {
			bad = r.MessageId
		}
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != bad {
		t.Fatalf("batch item failures %+v, want only %s (msg_bad)", resp.BatchItemFailures, bad)
	}
	dead, _ := w.Store.(core.DeadLetters).ListDeadLetters(ctx, 0)
	if len(dead) != 1 || dead[0].Key != "msg_poison" || string(dead[0].Body) != "not an event" || dead[0].Attempts != 1 {
		t.Fatalf("dead letters %+v, want msg_poison", dead)
	}
	if j, _ := w.Processing.Ledger.GetJob(ctx, "batches/good"); j == nil || j.Landing != jobs.LandingLanded {
		t.Fatalf("good record not landed: %+v", j)
	}
}

func receiveN(t *testing.T, c *awssqs.Client, q *sqstest.Queue, n int) []sqstypes.Message {
	t.Helper()
	var got []sqstypes.Message
	for deadline := time.Now().Add(20 * time.Second); len(got) < n; {
		msgs, err := sqstest.Receive(context.Background(), c, q, n-len(got), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, msgs...)
		if time.Now().After(deadline) {
			t.Fatalf("%d messages, want %d", len(got), n)
		}
	}
	return got
}

// A message that always fails ends in the dead-letter queue after the
// redrive policy's receives (maxReceiveCount 2), each retry scheduled by
// the worker (RETRY_BACKOFF 1s), and nothing is kept as a dead letter in
// the store: it was not a permanent failure.
func TestSQSFailingMessageEndsInDLQ(t *testing.T) {
	url := motoEnv(t)
	client := sqstest.Client(url)
	ctx := context.Background()
	q, err := sqstest.Create(ctx, client, uniq("tasks"), 30*time.Second, 2)
	if err != nil {
		t.Fatal(err)
	}
	api := geminitest.New(apiKey)
	defer api.Close()
	api.AddBatch("batches/dlq", geminitest.Batch{State: "BATCH_STATE_SUCCEEDED", OutputFile: "files/never"})
	r := start(t, api, map[string]string{"QUEUE": "sqs:" + q.URL, "IDEMPOTENCY_STORE": "memory"})
	w := startWorker(t, map[string]string{"GEMINI_API_KEY": apiKey, "GOOGLE_GEMINI_BASE_URL": api.URL, "RESULTS_SINK": t.TempDir(), "RETRY_BACKOFF": "1s"})
	sw, err := w.SQS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st := r.deliver("msg_dlq", batchEvent("batch.succeeded", "batches/dlq", "files/never")); st != http.StatusAccepted {
		t.Fatalf("status %d", st)
	}
	start := time.Now()
	receives := 0
	var inDLQ []sqstypes.Message
	for len(inDLQ) == 0 {
		n, err := sqstest.PollOnce(ctx, client, q, sw.HandleSQS, 10, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		receives += n
		if inDLQ, err = sqstest.Receive(ctx, client, q.DLQ, 10, 0); err != nil {
			t.Fatal(err)
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("not in the DLQ after %d receives", receives)
		}
	}
	if receives != 2 {
		t.Errorf("%d receives before the DLQ, want 2 (maxReceiveCount)", receives)
	}
	m := inDLQ[0]
	if awssdk.ToString(m.MessageAttributes["webhook_id"].StringValue) != "msg_dlq" {
		t.Fatalf("DLQ holds %v", m.MessageAttributes)
	}
	if dead, _ := w.Store.(core.DeadLetters).ListDeadLetters(ctx, 0); len(dead) != 0 {
		t.Fatalf("store dead letters %+v, want none", dead)
	}
	t.Logf("SQS: failing message in the DLQ after %d receives, %s", receives, time.Since(start).Round(time.Millisecond))
}
