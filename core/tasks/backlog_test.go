package tasks_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/tasks"
)

// The backlog is bounded by count and by bytes: past a bound Enqueue
// refuses with core.ErrQueueFull (the receiver then answers 503 and Gemini
// retries), and once the worker has caught up there is room again.
func TestBacklogBounded(t *testing.T) {
	for _, c := range []struct {
		name       string
		count      int
		bytes      int64
		acceptedOK int
	}{
		{"by count", 2, 0, 2},
		{"by bytes", 0, 100, 1}, // one body (70 bytes) fits, two do not
	} {
		t.Run(c.name, func(t *testing.T) {
			release := make(chan struct{})
			store := tasks.NewMemoryStore()
			q, err := tasks.NewQueue(tasks.QueueOptions{
				Tasks: store, DeadLetters: core.NewMemoryStore(0), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
				Processor:  core.HandlerFunc(func(ctx context.Context, _ *core.Event) error { <-release; return nil }),
				MaxBacklog: c.count, MaxBacklogBytes: c.bytes, Concurrency: 1,
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); q.Run(ctx) }()
			defer func() { cancel(); <-done }()
			var once sync.Once
			drain := func() { once.Do(func() { close(release) }) }
			defer drain() // before the worker is waited for, also when the test fails

			for i := range c.acceptedOK {
				if err := q.Enqueue(ctx, event("bk-"+string(rune('a'+i)), core.BatchSucceeded)); err != nil {
					t.Fatalf("enqueue %d: %v", i, err)
				}
			}
			err = q.Enqueue(ctx, event("bk-over", core.BatchSucceeded))
			if !errors.Is(err, core.ErrQueueFull) {
				t.Fatalf("enqueue past the bound: %v, want ErrQueueFull", err)
			}
			if ts, _ := store.ListTasks(ctx); len(ts) != c.acceptedOK {
				t.Fatalf("%d tasks stored, want %d: a refused event is not stored", len(ts), c.acceptedOK)
			}
			drain() // the worker catches up
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				if err := q.Enqueue(ctx, event("bk-later", core.BatchSucceeded)); err == nil {
					break
				} else if time.Now().After(deadline) {
					t.Fatalf("no room after the backlog drained: %v", err)
				}
			}
		})
	}
}
