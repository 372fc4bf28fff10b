package firestore_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/gemini/geminitest"
	"github.com/geminiwebhooks/receiver/adapters/internal/env"
	"github.com/geminiwebhooks/receiver/adapters/internal/wire"
	"github.com/geminiwebhooks/receiver/core/jobs"
	"github.com/geminiwebhooks/receiver/scripts/simulator/gemini"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
)

// In the clouds (no local queue) two instances process inline and share
// only Firestore: deliveries of one batch reaching both at once land it
// once, with one download, and the jobs collection records both.
func TestTwoInstancesLandOnce(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	api := geminitest.New("test")
	defer api.Close()
	f := geminitest.File{Name: "files/out-cloud", Size: 2 << 20, Seed: 11}
	api.AddFile(f)
	api.AddBatch("batches/cloud", geminitest.Batch{State: "BATCH_STATE_SUCCEEDED", OutputFile: f.Name})
	sink := t.TempDir() // stands for the bucket both instances land in
	vars := map[string]string{
		"WEBHOOK_SIGNING_SECRET": secret,
		"GOOGLE_CLOUD_PROJECT":   fmt.Sprintf("landing-%d", time.Now().UnixNano()),
		"RESULTS_SINK":           sink,
		"GEMINI_API_KEY":         "test",
		"GOOGLE_GEMINI_BASE_URL": api.URL,
	}
	getenv := func(k string) string { return vars[k] }
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		testenv.ResetFirestore(ctx, os.Getenv("FIRESTORE_EMULATOR_HOST"), vars["GOOGLE_CLOUD_PROJECT"])
	})
	var urls []string
	var apps []*wire.App
	for range 2 {
		cfg, err := env.Load(getenv, env.Serverless)
		if err != nil {
			t.Fatal(err)
		}
		app, err := wire.Build(context.Background(), cfg, nil, wire.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), LocalQueue: true})
		if err != nil {
			t.Fatal(err)
		}
		if app.Processing.Local != nil {
			t.Fatal("a local queue in the cloud configuration")
		}
		srv := httptest.NewServer(app.Receiver)
		defer srv.Close()
		defer app.Close()
		urls = append(urls, srv.URL)
		apps = append(apps, app)
	}
	sender := &gemini.Sender{Signer: gemini.StaticSigner{Secret: secret}, MaxAttempts: 10, InitialBackoff: 200 * time.Millisecond}
	var wg sync.WaitGroup
	for i, u := range urls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := []byte(fmt.Sprintf(`{"type":"batch.succeeded","version":"v1","data":{"id":"batches/cloud","output_file_uri":%q}}`, f.Name))
			r := sender.Send(context.Background(), u, gemini.Delivery{ID: fmt.Sprint("msg_cloud_", i), Body: body})
			if r.Status != http.StatusOK || r.Outcome != "processed" {
				t.Errorf("instance %d: %d %s after %d attempts (%v)", i, r.Status, r.Outcome, r.Attempts, r.Err)
			}
		}()
	}
	wg.Wait()
	if n := api.Downloads(f.Name); n != 1 {
		t.Fatalf("%d downloads, want 1", n)
	}
	j, err := apps[1].Processing.Ledger.GetJob(context.Background(), "batches/cloud")
	if err != nil || j == nil || j.Landing != jobs.LandingLanded || len(j.Deliveries) != 2 {
		t.Fatalf("ledger: %+v, %v", j, err)
	}
	want := geminitest.Expect(f)
	if j.Output.SHA256 != want.SHA256 || j.Output.URI != "file://"+filepath.Join(sink, "batches", "cloud", "results.jsonl") {
		t.Fatalf("output %+v", j.Output)
	}
}
