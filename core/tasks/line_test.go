package tasks_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/tasks"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
)

// taskLines returns the "task" lines in out, by webhook_id.
func taskLines(out string) map[string][]testenv.Line {
	lines := map[string][]testenv.Line{}
	for _, l := range testenv.Lines(out) {
		if l["msg"] == "task" {
			id, _ := l["webhook_id"].(string)
			lines[id] = append(lines[id], l)
		}
	}
	return lines
}

// The local queue's worker writes one "task" line per attempt, as the cloud
// workers do, with what the handler added (AddLineAttrs), the handlers'
// outcome and time, and how the attempt ended. The old worker wrote nothing
// for a success, and a handler's attributes reached no line.
func TestLocalQueueWritesATaskLinePerAttempt(t *testing.T) {
	logs := &testenv.SyncBuffer{}
	var mu sync.Mutex
	calls := map[string]int{}
	mux := core.NewMux().Default(func(ctx context.Context, ev *core.Event) error {
		mu.Lock()
		calls[ev.Delivery.ID]++
		n := calls[ev.Delivery.ID]
		mu.Unlock()
		core.AddLineAttrs(ctx, slog.Int("handler_call", n))
		switch {
		case ev.Delivery.ID == "msg_flaky" && n == 1:
			return errors.New("flaky")
		case ev.Delivery.ID == "msg_poison":
			return core.ErrPermanent
		}
		return nil
	})
	w, err := tasks.NewQueue(tasks.QueueOptions{Tasks: tasks.NewMemoryStore(), Processor: mux, DeadLetters: core.NewMemoryStore(0),
		RetryBackoff: time.Millisecond, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for _, id := range []string{"msg_ok", "msg_flaky", "msg_poison"} {
		if err := w.Enqueue(context.Background(), event(id, core.BatchSucceeded)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the task lines", func() bool {
		l := taskLines(logs.String())
		return len(l["msg_ok"]) == 1 && len(l["msg_flaky"]) == 2 && len(l["msg_poison"]) == 1
	})
	lines := taskLines(logs.String())
	for _, c := range []struct {
		id               string
		i                int
		outcome, handler string
		call, attempt    float64
	}{
		{"msg_ok", 0, "processed", "ok", 1, 1},
		{"msg_flaky", 0, "retry", "failed", 1, 1},
		{"msg_flaky", 1, "processed", "ok", 2, 2},
		{"msg_poison", 0, "dead_letter", "failed", 1, 1},
	} {
		l := lines[c.id][c.i]
		if l["outcome"] != c.outcome || l["handlers"] != c.handler || l["handler_call"] != c.call || l["attempt"] != c.attempt ||
			l["event_type"] != core.BatchSucceeded || l["job_id"] != "batches/"+c.id || l["handler_ms"] == nil || l["latency_ms"] == nil {
			t.Errorf("%s line %d: %v; want outcome %s, handlers %s, handler_call %v, attempt %v", c.id, c.i+1, l, c.outcome, c.handler, c.call, c.attempt)
		}
	}
	if l := lines["msg_flaky"][0]; l["error"] != "flaky" || l["retry_at"] == nil || l["level"] != "WARN" {
		t.Errorf("retry line: %v", l)
	}
	if l := lines["msg_poison"][0]; l["reason"] == nil || l["level"] != "ERROR" {
		t.Errorf("dead letter line: %v", l)
	}
}
