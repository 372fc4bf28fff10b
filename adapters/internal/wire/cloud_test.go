package wire_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/geminiwebhooks/receiver/adapters/gemini/geminitest"
	"github.com/geminiwebhooks/receiver/adapters/internal/env"
	"github.com/geminiwebhooks/receiver/adapters/internal/wire"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

// A runtime that does not link Cloud Storage (the Lambda) refuses a gs://
// RESULTS_SINK at build time, naming the variable, and records a batch
// whose output is in a bucket as skipped with the reason instead of
// retrying it into a dead letter.
func TestRuntimeWithoutCloudStorage(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	noGCS := wire.Cloud{Name: "AWS Lambda"}
	cfg, err := env.Load(func(k string) string {
		return map[string]string{"RESULTS_SINK": "gs://bucket/prefix", "WEBHOOK_SIGNING_SECRET": secret}[k]
	}, env.Memory)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wire.Build(context.Background(), cfg, nil, wire.Options{Logger: quiet, Cloud: noGCS}); err == nil ||
		!strings.Contains(err.Error(), "RESULTS_SINK") || !strings.Contains(err.Error(), "AWS Lambda cannot land in gs://") {
		t.Fatalf("build: %v, want RESULTS_SINK refused for AWS Lambda", err)
	}

	api := geminitest.New(apiKey)
	defer api.Close()
	api.AddBatch("batches/vx", geminitest.Batch{State: "BATCH_STATE_SUCCEEDED", OutputFile: "gs://vertex/out.jsonl"})
	cfg, err = env.Load(func(k string) string {
		return map[string]string{"RESULTS_SINK": t.TempDir(), "WEBHOOK_SIGNING_SECRET": secret, "GEMINI_API_KEY": apiKey, "GOOGLE_GEMINI_BASE_URL": api.URL}[k]
	}, env.Memory)
	if err != nil {
		t.Fatal(err)
	}
	app, err := wire.Build(context.Background(), cfg, nil, wire.Options{Logger: quiet, Cloud: noGCS})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	ev, _ := core.ParseEvent(batchEvent("batch.succeeded", "batches/vx", "gs://vertex/out.jsonl"))
	ev.Delivery = core.Delivery{ID: "msg_vx"}
	if err := app.Processor.Process(context.Background(), ev); err != nil {
		t.Fatalf("process: %v, want the landing skipped, not retried", err)
	}
	j, _ := app.Processing.Ledger.GetJob(context.Background(), "batches/vx")
	if j == nil || j.Landing != jobs.LandingSkipped || !strings.Contains(j.LandingError, "AWS Lambda cannot read gs://") {
		t.Fatalf("job %+v, want skipped with the reason", j)
	}
}
