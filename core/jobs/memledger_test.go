package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"testing"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

// The memory ledger is bounded like the memory store: finished jobs make
// room for new ones, unfinished work is never forgotten.
func TestMemoryLedgerBounded(t *testing.T) {
	ctx := context.Background()
	l := jobs.NewMemoryLedger(3)
	set := func(id string, st jobs.JobState, landing jobs.LandingState) error {
		_, err := l.UpdateJob(ctx, id, func(j *jobs.Job) (*jobs.Job, error) {
			if j == nil {
				j = &jobs.Job{}
			}
			j.State, j.Landing = st, landing
			return j, nil
		})
		return err
	}
	for i, st := range []jobs.JobState{jobs.JobSucceeded, jobs.JobRunning, jobs.JobSucceeded} {
		landing := jobs.LandingLanded
		if i == 2 {
			landing = jobs.LandingPending // finished, but its output still has to land
		}
		if err := set(fmt.Sprint("j", i), st, landing); err != nil {
			t.Fatal(err)
		}
	}
	if err := set("j3", jobs.JobRunning, jobs.LandingNone); err != nil {
		t.Fatalf("a fourth job should evict the landed j0: %v", err)
	}
	if j, _ := l.GetJob(ctx, "j0"); j != nil {
		t.Fatal("j0 kept past the limit")
	}
	for _, id := range []string{"j1", "j2", "j3"} {
		if j, _ := l.GetJob(ctx, id); j == nil {
			t.Fatalf("%s evicted while it has work left", id)
		}
	}
	if err := set("j4", jobs.JobRunning, jobs.LandingNone); !errors.Is(err, core.ErrStoreFull) {
		t.Fatalf("full of unfinished jobs: %v, want ErrStoreFull", err)
	}
	if err := set("j1", jobs.JobSucceeded, jobs.LandingLanded); err != nil { // updating a known job always works
		t.Fatal(err)
	}
}

// BenchmarkMemoryLedgerBytesPerJob is the live heap one job costs the memory
// ledger, recorded from a thin event as the built-in actions do without a
// Gemini API client (b.N is ignored: it always records 100,000 jobs).
func BenchmarkMemoryLedgerBytesPerJob(b *testing.B) {
	const n = 100_000
	types := []string{"batch.succeeded", "batch.failed", "interaction.requires_action", "interaction.completed", "video.generated"}
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		l := jobs.NewMemoryLedger(n)
		a, err := jobs.New(jobs.Config{Ledger: l, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		for i := range n {
			typ := types[i%len(types)]
			data := fmt.Sprintf(`{"id":"batches/b%021d","output_file_uri":"files/batch-%016d","error_count":0}`, i, i)
			switch typ {
			case "batch.failed":
				data = fmt.Sprintf(`{"id":"batches/b%021d","error_code":3,"error_message":"Invalid request: line 17 of the input file is not valid JSON."}`, i)
			case "interaction.requires_action", "interaction.completed":
				data = fmt.Sprintf(`{"id":"interactions/i%021d"}`, i)
			case "video.generated":
				data = fmt.Sprintf(`{"file_id":"files/v%011d","video_uri":"https://generativelanguage.googleapis.com/v1beta/files/v%011d:download?alt=media"}`, i, i)
			}
			ev, err := core.ParseEvent(fmt.Appendf(nil, `{"type":%q,"version":"v1","timestamp":"2026-12-01T10:00:00Z","data":%s}`, typ, data))
			if err != nil {
				b.Fatal(err)
			}
			ev.Delivery.ID = fmt.Sprintf("msg_%024d", i)
			if err := a.Process(context.Background(), ev); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/job")
		runtime.KeepAlive(l)
	}
}
