package wire_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/gemini/geminitest"
	"github.com/geminiwebhooks/receiver/adapters/internal/env"
	"github.com/geminiwebhooks/receiver/adapters/internal/wire"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

// BenchmarkReconcile10000 is the cost of a reconcile over 10,000 listed
// batches against the stand-in, with the file store (bbolt) as ledger and
// idempotency store, as the local server has them:
//
//   - "all 10000 missing": the ledger knows none (a receiver that missed
//     two days of webhooks): all are applied, a quarter landed;
//   - "1000 missing": the ledger knows 9,000 of them (terminal); the run
//     applies the other 1,000 (a quarter succeeded, each with a 1 KiB
//     output to land), through the full pipeline;
//   - "all known": the steady state, nothing to apply.
//
// It reports the Gemini API calls of one run (list pages, batches.get,
// downloads) besides the time.
//
//	go test -run='^$' -bench=Reconcile10000 -benchtime=1x ./adapters/internal/wire
func BenchmarkReconcile10000(b *testing.B) {
	const listed = 10000
	for _, c := range []struct {
		name    string
		missing int
		known   bool // run once before measuring: the missing ones are known then
	}{{"all 10000 missing", listed, false}, {"1000 missing", 1000, false}, {"all known", 1000, true}} {
		name, missing, known := c.name, c.missing, c.known
		b.Run(name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				api, r := reconcileFixture(b, listed, listed-missing)
				log := slog.New(slog.NewJSONHandler(io.Discard, nil))
				if known {
					if s, err := r.app.Reconcile(context.Background(), wire.ReconcileOptions{Logger: log}); err != nil || s.Applied != missing {
						b.Fatalf("warm-up run: %+v, %v", s, err)
					}
				}
				lists, gets, downloads := api.ListCalls(), api.TotalBatchGets(), api.TotalDownloads()
				b.StartTimer()
				start := time.Now()
				s, err := r.app.Reconcile(context.Background(), wire.ReconcileOptions{Logger: log})
				elapsed := time.Since(start)
				b.StopTimer()
				want := missing
				if known {
					want = 0
				}
				if err != nil || s.Seen != listed || s.Applied != want || s.Failed != 0 {
					b.Fatalf("run: %+v, %v; want %d seen, %d applied", s, err, listed, want)
				}
				b.ReportMetric(float64(api.ListCalls()-lists), "list_pages/op")
				b.ReportMetric(float64(api.TotalBatchGets()-gets), "batch_gets/op")
				b.ReportMetric(float64(api.TotalDownloads()-downloads), "downloads/op")
				b.Logf("%s: %d listed, %d applied, %d landed in %s; API: %d list pages, %d batches.get, %d downloads",
					name, s.Seen, s.Applied, s.Landed, elapsed.Round(time.Millisecond),
					api.ListCalls()-lists, api.TotalBatchGets()-gets, api.TotalDownloads()-downloads)
				r.stop()
				api.Close()
				b.StartTimer()
			}
		})
	}
}

// reconcileFixture: the stand-in lists n finished batches; the ledger
// already holds the first known of them as terminal.
func reconcileFixture(b *testing.B, n, known int) (*geminitest.Server, *receiver) {
	b.Helper()
	api := geminitest.New(apiKey)
	for i := range n {
		name := fmt.Sprintf("batches/b%05d", i)
		state, typ := finished(i)
		bt := geminitest.Batch{State: state}
		if typ == "batch.succeeded" {
			bt.OutputFile = fmt.Sprintf("files/o%05d", i)
			api.AddFile(geminitest.File{Name: bt.OutputFile, Size: 1 << 10, Seed: int64(i)})
		}
		api.AddBatch(name, bt)
	}
	dir := b.TempDir()
	vars := map[string]string{
		"STATE_PATH":             filepath.Join(dir, "state.db"),
		"RESULTS_SINK":           filepath.Join(dir, "results"),
		"GEMINI_API_KEY":         apiKey,
		"GOOGLE_GEMINI_BASE_URL": api.URL,
	}
	cfg, err := env.Load(func(k string) string { return vars[k] }, env.Local)
	if err != nil {
		b.Fatal(err)
	}
	app, err := wire.Build(context.Background(), cfg, nil, wire.Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Cloud: testCloud()})
	if err != nil {
		b.Fatal(err)
	}
	// The known ones, written as a webhook would have left them (bbolt
	// coalesces concurrent writers into one transaction).
	now := time.Now()
	var wg sync.WaitGroup
	work := make(chan int)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				name := fmt.Sprintf("batches/b%05d", i)
				state, _ := finished(i)
				_, err := app.Processing.Ledger.UpdateJob(context.Background(), name, func(*jobs.Job) (*jobs.Job, error) {
					return &jobs.Job{ID: name, Kind: "batch", State: ledgerState(state), APIState: state, FirstSeen: now, UpdatedAt: now, FinishedAt: now}, nil
				})
				if err != nil {
					panic(err)
				}
			}
		}()
	}
	for i := range known {
		work <- i
	}
	close(work)
	wg.Wait()
	return api, &receiver{app: app, stop: func() { app.Close() }}
}

func ledgerState(api string) jobs.JobState {
	switch api {
	case "BATCH_STATE_SUCCEEDED":
		return jobs.JobSucceeded
	case "BATCH_STATE_FAILED":
		return jobs.JobFailed
	case "BATCH_STATE_CANCELLED":
		return jobs.JobCancelled
	}
	return jobs.JobExpired
}
