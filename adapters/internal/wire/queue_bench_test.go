package wire_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/geminiwebhooks/receiver/adapters/gemini/geminitest"
	"github.com/geminiwebhooks/receiver/adapters/internal/env"
	"github.com/geminiwebhooks/receiver/adapters/internal/wire"
	"github.com/geminiwebhooks/receiver/core/jobs"
	"github.com/geminiwebhooks/receiver/scripts/simulator/gemini"
	"github.com/geminiwebhooks/receiver/scripts/testenv/sqstest"
)

// BenchmarkSQSPath is the AWS path end to end on moto_server, one
// delivery at a time: signed delivery → receiver (QUEUE=sqs:…) → SQS →
// the worker fed as the event source mapping feeds it (long poll, batches
// of up to 10) → a 64 KiB batch output landed in S3 with its manifest.
// ns/op is delivery → landed; answer-ms is delivery → 202; worker-ms is the
// worker's time per delivery (the rest is the queue's).
//
//	go test ./adapters/internal/wire -run '^$' -bench BenchmarkSQSPath -benchtime 50x
func BenchmarkSQSPath(b *testing.B) {
	url := motoEnv(b)
	ctx := context.Background()
	client := sqstest.Client(url)
	q, err := sqstest.Create(ctx, client, uniq("bench"), 30*time.Second, 5)
	if err != nil {
		b.Fatal(err)
	}
	bucket := uniq("bench")
	if _, err := motoS3(url).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		b.Fatal(err)
	}
	api := geminitest.New(apiKey)
	defer api.Close()
	api.SetAuto(64 << 10)

	vars := map[string]string{"WEBHOOK_SIGNING_SECRET": secret, "IDEMPOTENCY_STORE": "memory", "QUEUE": "sqs:" + q.URL}
	cfg, err := env.Load(func(k string) string { return vars[k] }, env.Memory)
	if err != nil {
		b.Fatal(err)
	}
	quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))
	app, err := wire.Build(ctx, cfg, nil, wire.Options{Logger: quiet, LocalQueue: true, Cloud: testCloud()})
	if err != nil {
		b.Fatal(err)
	}
	defer app.Close()
	srv := httptest.NewServer(app.Receiver)
	defer srv.Close()
	w := startWorker(b, map[string]string{"GEMINI_API_KEY": apiKey, "GOOGLE_GEMINI_BASE_URL": api.URL, "RESULTS_SINK": "s3://" + bucket + "/bench"})
	sw, err := w.SQS(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var handling time.Duration // written by the poller, read after it stopped
	handle := func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		start := time.Now()
		defer func() { handling += time.Since(start) }()
		return sw.HandleSQS(ctx, ev)
	}
	pctx, stop := context.WithCancel(ctx)
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for pctx.Err() == nil {
			_, _ = sqstest.PollOnce(pctx, client, q, handle, 10, time.Second)
		}
	}()
	defer func() { stop(); <-polled }()

	sender := &gemini.Sender{Signer: gemini.StaticSigner{Secret: secret}, MaxAttempts: 1}
	var answered time.Duration
	b.ResetTimer()
	for i := range b.N {
		job := "batches/bench" + strconv.Itoa(i)
		start := time.Now()
		res := sender.Send(ctx, srv.URL, gemini.Delivery{ID: "msg_bench_" + strconv.Itoa(i), Body: batchEvent("batch.succeeded", job, "")})
		if res.Err != nil || res.Status != http.StatusAccepted {
			b.Fatalf("delivery %d: %d %v", i, res.Status, res.Err)
		}
		answered += time.Since(start)
		for {
			j, err := w.Processing.Ledger.GetJob(ctx, job)
			if err != nil {
				b.Fatal(err)
			}
			if j != nil && j.Landing == jobs.LandingLanded {
				break
			}
			if time.Since(start) > 30*time.Second {
				b.Fatalf("%s not landed: %+v", job, j)
			}
			time.Sleep(200 * time.Microsecond)
		}
	}
	b.StopTimer()
	stop()
	<-polled
	b.ReportMetric(float64(answered.Microseconds())/1000/float64(b.N), "answer-ms")
	b.ReportMetric(float64(handling.Microseconds())/1000/float64(b.N), "worker-ms")
}
