package tasks_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/tasks"
)

// A task that asks to run again at once (a store's commit that conflicted
// with another writer, a RetryLaterError due now) is rescheduled while its
// attempt still counts as running: it must still run again, not be dropped
// from the schedule as a stale entry.
func TestRetryDueNowRunsAgain(t *testing.T) {
	ctx := context.Background()
	p := newScripted(func(_ string, n int) error {
		if n == 1 {
			return &core.RetryLaterError{At: time.Now(), Free: true, Reason: "conflict"}
		}
		return nil
	})
	r := startWorker(t, tasks.NewMemoryStore(), p, 5)
	const n = 300
	for i := range n {
		if err := r.w.Enqueue(ctx, event(fmt.Sprint("now-", i), core.BatchSucceeded)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every task to run twice", func() bool { return taskCount(r) == 0 })
	for i := range n {
		if c := p.count(fmt.Sprint("now-", i)); c != 2 {
			t.Fatalf("now-%d ran %d times, want 2", i, c)
		}
	}
}
