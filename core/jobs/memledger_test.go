package jobs_test

import (
	"context"
	"errors"
	"fmt"
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
