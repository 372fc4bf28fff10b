package gcf

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	ps "cloud.google.com/go/pubsub/v2"

	"github.com/geminiwebhooks/receiver/adapters/gemini/geminitest"
	"github.com/geminiwebhooks/receiver/core/jobs"
	"github.com/geminiwebhooks/receiver/scripts/testenv/pubsubtest"
)

// BenchmarkPubSubPath is the Google Cloud path end to end on the Pub/Sub
// emulator, one delivery at a time: signed delivery → GeminiWebhook
// (QUEUE=pubsub:…) → topic → push subscription → GeminiWorker in its own
// process (Functions Framework) → a 64 KiB batch output landed in a folder
// with its manifest. ns/op is delivery → landed; answer-ms is delivery → 202;
// worker-ms is the worker's time per event (the rest is the queue's).
//
//	go test ./functions/gcp -run '^$' -bench BenchmarkPubSubPath -benchtime 50x
func BenchmarkPubSubPath(b *testing.B) {
	useEmulator(b)
	const project = "gcp-worker-bench"
	ctx := context.Background()
	client, err := ps.NewClient(ctx, project)
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	api := geminitest.New(workerAPIKey)
	defer api.Close()
	api.SetAuto(64 << 10)
	results := filepath.Join(b.TempDir(), "results")
	worker := startWorkerProcess(b, map[string]string{
		"IDEMPOTENCY_STORE": "file", "STATE_PATH": filepath.Join(b.TempDir(), "state.db"), "RESULTS_SINK": results,
		"GEMINI_API_KEY": workerAPIKey, "GOOGLE_GEMINI_BASE_URL": api.URL,
	})
	topicID := fmt.Sprintf("bench-%d", time.Now().UnixNano()%1e9)
	topic := "projects/" + project + "/topics/" + topicID
	if _, err := pubsubtest.Create(ctx, client, topicID, pubsubtest.Options{PushEndpoint: worker.url + "/" + topic, AckDeadline: 60 * time.Second}); err != nil {
		b.Fatal(err)
	}
	secret := "whsec_" + strings.Repeat("QmVuY2htYXJr", 4)
	receiver := newWebhook(envOf(map[string]string{"WEBHOOK_SIGNING_SECRET": secret, "IDEMPOTENCY_STORE": "memory", "QUEUE": "pubsub:" + topic, "PUBSUB_EMULATOR_HOST": emulator.svc.Host}), newLogger(&syncBuffer{}), nil)
	defer receiver.Close()

	var answered time.Duration
	b.ResetTimer()
	for i := range b.N {
		job := "bench" + strconv.Itoa(i)
		body := `{"type":"batch.succeeded","version":"v1","data":{"id":"batches/` + job + `"}}`
		id := "msg_bench_" + strconv.Itoa(i)
		start := time.Now()
		ts := start.Unix()
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.Header.Set("webhook-id", id)
		r.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
		r.Header.Set("webhook-signature", sign(secret, id, ts, []byte(body)))
		w := httptest.NewRecorder()
		receiver.ServeHTTP(w, r)
		if w.Code != http.StatusAccepted {
			b.Fatalf("delivery %d: %d %s", i, w.Code, w.Body)
		}
		answered += time.Since(start)
		manifest := filepath.Join(results, "batches", job, jobs.ManifestName)
		for {
			if _, err := os.Stat(manifest); err == nil {
				break
			}
			if time.Since(start) > 30*time.Second {
				b.Fatalf("%s not landed; worker log:\n%s", job, worker.logs())
			}
			time.Sleep(200 * time.Microsecond)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(answered.Microseconds())/1000/float64(b.N), "answer-ms")
	// The worker's own time per event, from its task log lines.
	var total float64
	n := 0
	for _, line := range strings.Split(worker.logs(), "\n") {
		var m struct {
			Message string  `json:"message"`
			Latency float64 `json:"latency_ms"`
		}
		if json.Unmarshal([]byte(line), &m) == nil && m.Message == "task" {
			total += m.Latency
			n++
		}
	}
	if n > 0 {
		b.ReportMetric(total/float64(n), "worker-ms")
	}
}
