package tasks_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/tasks"
)

// scripted fails each task's first attempts as told, then succeeds.
type scripted struct {
	mu    sync.Mutex
	calls map[string]int
	fail  func(id string, call int) error
	done  chan string
}

func newScripted(fail func(id string, call int) error) *scripted {
	return &scripted{calls: map[string]int{}, fail: fail, done: make(chan string, 1000)}
}

func (s *scripted) Process(_ context.Context, ev *core.Event) error {
	s.mu.Lock()
	s.calls[ev.Delivery.ID]++
	n := s.calls[ev.Delivery.ID]
	s.mu.Unlock()
	err := s.fail(ev.Delivery.ID, n)
	s.done <- fmt.Sprintf("%s#%d:%v", ev.Delivery.ID, n, err)
	return err
}

func (s *scripted) count(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[id]
}

func event(id, typ string) *core.Event {
	body := []byte(fmt.Sprintf(`{"type":%q,"version":"v1","data":{"id":"batches/%s"}}`, typ, id))
	e, err := core.ParseEvent(body)
	if err != nil {
		panic(err)
	}
	e.Delivery = core.Delivery{ID: id, Scheme: core.SchemeStatic}
	return e
}

type workerRig struct {
	w     *tasks.Queue
	tasks *tasks.MemoryStore
	dead  *core.MemoryStore
	stop  func()
}

func startWorker(t *testing.T, store *tasks.MemoryStore, p core.Processor, max int) *workerRig {
	t.Helper()
	return startWorkerWith(t, store, tasks.QueueOptions{Processor: p, MaxAttempts: max, RetryBackoff: 5 * time.Millisecond})
}

// startWorkerWith runs a queue over store with o (its Tasks, DeadLetters
// and Logger set here) until the test ends.
func startWorkerWith(t *testing.T, store *tasks.MemoryStore, o tasks.QueueOptions) *workerRig {
	t.Helper()
	dead := core.NewMemoryStore(0)
	o.Tasks, o.DeadLetters, o.Logger = store, dead, slog.New(slog.NewTextHandler(io.Discard, nil))
	w, err := tasks.NewQueue(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return &workerRig{w: w, tasks: store, dead: dead, stop: stop}
}

// waitFor polls cond (the worker runs in the background).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func taskCount(r *workerRig) int {
	ts, _ := r.tasks.ListTasks(context.Background())
	return len(ts)
}

func TestWorkerRetriesThenDeadLetters(t *testing.T) {
	ctx := context.Background()
	p := newScripted(func(id string, n int) error {
		switch {
		case id == "ok":
			return nil
		case id == "flaky" && n >= 3:
			return nil
		case id == "broken-body":
			return nil
		}
		return errors.New("download cut off")
	})
	// A task whose body no longer parses can never succeed: dead at once.
	store := tasks.NewMemoryStore()
	if err := store.PutTask(ctx, tasks.Task{ID: "broken-body", Body: []byte(`{"type":`)}); err != nil {
		t.Fatal(err)
	}
	r := startWorker(t, store, p, 4)
	for _, id := range []string{"ok", "flaky", "always"} {
		if err := r.w.Enqueue(ctx, event(id, core.BatchSucceeded)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the queue to drain", func() bool { return taskCount(r) == 0 })

	if p.count("ok") != 1 || p.count("flaky") != 3 || p.count("always") != 4 || p.count("broken-body") != 0 {
		t.Fatalf("calls: %v", p.calls)
	}
	dl, _ := r.dead.ListDeadLetters(ctx, 0)
	byKey := map[string]core.DeadLetter{}
	for _, d := range dl {
		byKey[d.Key] = d
	}
	if len(dl) != 2 {
		t.Fatalf("dead letters %+v, want always and broken-body", dl)
	}
	if d := byKey["always"]; d.Attempts != 4 || d.Reason != "download cut off" || d.EventType != core.BatchSucceeded || d.Scheme != core.SchemeStatic || len(d.Body) == 0 {
		t.Fatalf("dead letter: %+v", d)
	}
	if d := byKey["broken-body"]; d.Attempts != 1 || !strings.Contains(d.Reason, "not understood") {
		t.Fatalf("dead letter of the unparseable body: %+v", d)
	}

	// Replay puts it back with fresh attempts; it fails 4 more times.
	if err := r.w.Replay(ctx, "always"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replay to run out", func() bool { return p.count("always") == 8 && taskCount(r) == 0 })
	if err := r.w.Replay(ctx, "nope"); !errors.Is(err, core.ErrNoDeadLetter) {
		t.Fatalf("replay of an unknown key: %v", err)
	}
}

// Waiting for another owner does not use up attempts.
func TestWorkerFreeRetries(t *testing.T) {
	p := newScripted(func(id string, n int) error {
		if n <= 5 {
			return &core.RetryLaterError{At: time.Now(), Free: true, Reason: "busy"}
		}
		return nil
	})
	r := startWorker(t, tasks.NewMemoryStore(), p, 2)
	r.w.Enqueue(context.Background(), event("busy", core.BatchSucceeded))
	waitFor(t, "the task to finish", func() bool { return p.count("busy") == 6 && taskCount(r) == 0 })
	if dl, _ := r.dead.ListDeadLetters(context.Background(), 0); len(dl) != 0 {
		t.Fatalf("free retries dead-lettered: %+v", dl)
	}
}

// Tasks left in the store (a crash) run when the worker starts; one whose
// attempt was in flight at the crash has that attempt counted.
func TestWorkerResumesOnStart(t *testing.T) {
	ctx := context.Background()
	store := tasks.NewMemoryStore()
	left := tasks.NewTask(event("left", core.BatchSucceeded), time.Now())
	left.Attempts = 1 // started before the crash
	store.PutTask(ctx, left)
	p := newScripted(func(string, int) error { return errors.New("still failing") })
	r := startWorker(t, store, p, 2)
	waitFor(t, "the dead letter", func() bool { return taskCount(r) == 0 })
	if p.count("left") != 1 {
		t.Fatalf("ran %d times, want 1 (1 attempt before the crash + 1 = MaxAttempts 2)", p.count("left"))
	}
}

// A task found at start-up with no attempt left (the store charged the
// attempts a crash interrupted) took the process down during its last one:
// it becomes a dead letter without running again; a task that never
// started keeps all its attempts.
func TestWorkerNoAttemptLeftAtStart(t *testing.T) {
	ctx := context.Background()
	store := tasks.NewMemoryStore()
	poison := tasks.NewTask(event("poison", core.BatchSucceeded), time.Now())
	poison.Attempts = 2 // both interrupted by crashes, charged at start-up
	store.PutTask(ctx, poison)
	store.PutTask(ctx, tasks.NewTask(event("queued", core.BatchSucceeded), time.Now()))
	p := newScripted(func(string, int) error { return nil })
	r := startWorker(t, store, p, 2)
	waitFor(t, "the queue to drain", func() bool { return taskCount(r) == 0 })
	if p.count("poison") != 0 || p.count("queued") != 1 {
		t.Fatalf("runs: poison %d, queued %d; want 0 and 1", p.count("poison"), p.count("queued"))
	}
	dl, _ := r.dead.ListDeadLetters(ctx, 0)
	if len(dl) != 1 || dl[0].Key != "poison" || dl[0].Attempts != 2 {
		t.Fatalf("dead letters %+v, want poison after 2 attempts", dl)
	}
}

// Suspects (tasks that SuspectCrashes crashes interrupted) run first after
// a start, each alone: no other task runs meanwhile.
func TestSuspectsRunAlone(t *testing.T) {
	ctx := context.Background()
	store := tasks.NewMemoryStore()
	for _, id := range []string{"a1", "s1", "a2", "s2", "s3", "a3"} {
		tk := tasks.NewTask(event(id, core.BatchSucceeded), time.Now())
		if id[0] == 's' {
			tk.Crashes, tk.Attempts = tasks.SuspectCrashes, tasks.SuspectCrashes
		}
		store.PutTask(ctx, tk)
	}
	var mu sync.Mutex
	var order []string
	running := map[string]bool{}
	var overlaps []string
	p := core.HandlerFunc(func(_ context.Context, ev *core.Event) error {
		id := ev.Delivery.ID
		mu.Lock()
		for other := range running {
			if other[0] == 's' || id[0] == 's' {
				overlaps = append(overlaps, other+"+"+id)
			}
		}
		running[id] = true
		order = append(order, id)
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		delete(running, id)
		mu.Unlock()
		return nil
	})
	r := startWorker(t, store, p, 5)
	waitFor(t, "the queue to drain", func() bool { return taskCount(r) == 0 })
	mu.Lock()
	defer mu.Unlock()
	if len(overlaps) > 0 {
		t.Errorf("a suspect ran beside another task: %v (order %v)", overlaps, order)
	}
	if len(order) != 6 || !slices.Equal(order[:3], []string{"s1", "s2", "s3"}) {
		t.Errorf("ran %v, want s1 s2 s3 first, then the others, each once", order)
	}
}

// A suspect that outlives SuspectAlone lets the other tasks start beside
// it, but never another suspect.
func TestSlowSuspectStopsRunningAlone(t *testing.T) {
	ctx := context.Background()
	store := tasks.NewMemoryStore()
	for _, id := range []string{"a1", "s1", "s2", "a2"} {
		tk := tasks.NewTask(event(id, core.BatchSucceeded), time.Now())
		if id[0] == 's' {
			tk.Crashes, tk.Attempts = tasks.SuspectCrashes, tasks.SuspectCrashes
		}
		store.PutTask(ctx, tk)
	}
	var mu sync.Mutex
	running := map[string]bool{}
	beside := map[string][]string{} // id → what was running when it started
	p := core.HandlerFunc(func(_ context.Context, ev *core.Event) error {
		id := ev.Delivery.ID
		mu.Lock()
		for other := range running {
			beside[id] = append(beside[id], other)
		}
		running[id] = true
		mu.Unlock()
		if id == "s1" {
			time.Sleep(300 * time.Millisecond)
		}
		mu.Lock()
		delete(running, id)
		mu.Unlock()
		return nil
	})
	r := startWorkerWith(t, store, tasks.QueueOptions{Processor: p, MaxAttempts: 5, SuspectAlone: 50 * time.Millisecond})
	waitFor(t, "the queue to drain", func() bool { return taskCount(r) == 0 })
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(beside["a1"], []string{"s1"}) || !slices.Equal(beside["a2"], []string{"s1"}) {
		t.Errorf("a1 and a2 started beside %v and %v, want s1 (after its time alone)", beside["a1"], beside["a2"])
	}
	if len(beside["s1"]) != 0 || len(beside["s2"]) != 0 {
		t.Errorf("suspects started beside others: s1 %v, s2 %v", beside["s1"], beside["s2"])
	}
}

// A shutdown in the middle of an attempt puts the task back unchanged.
func TestWorkerShutdownKeepsTask(t *testing.T) {
	ctx := context.Background()
	started := make(chan struct{})
	p := core.HandlerFunc(func(ctx context.Context, _ *core.Event) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	})
	store := tasks.NewMemoryStore()
	r := startWorker(t, store, p, 1)
	r.w.Enqueue(ctx, event("slow", core.BatchSucceeded))
	<-started
	r.stop()
	ts, _ := store.ListTasks(ctx)
	if len(ts) != 1 || ts[0].Attempts != 0 {
		t.Fatalf("after shutdown: %+v, want the task with 0 attempts", ts)
	}
	if dl, _ := r.dead.ListDeadLetters(ctx, 0); len(dl) != 0 {
		t.Fatalf("shutdown dead-lettered: %+v", dl)
	}
}

// countingTasks counts how often the worker reads the whole store.
type countingTasks struct {
	*tasks.MemoryStore
	mu    sync.Mutex
	lists int
}

func (c *countingTasks) ListTasks(ctx context.Context) ([]tasks.Task, error) {
	c.mu.Lock()
	c.lists++
	c.mu.Unlock()
	return c.MemoryStore.ListTasks(ctx)
}

// Resume is the worker's read at start.
func (c *countingTasks) Resume(ctx context.Context) ([]tasks.Task, error) { return c.ListTasks(ctx) }

// The store is read once, at start, to resume; after that scheduling is in
// memory, so a backlog does not make every dispatch walk the whole queue.
func TestWorkerReadsStoreOnlyAtStart(t *testing.T) {
	ctx := context.Background()
	store := &countingTasks{MemoryStore: tasks.NewMemoryStore()}
	store.PutTask(ctx, tasks.NewTask(event("left-0", core.BatchSucceeded), time.Now()))
	p := newScripted(func(id string, n int) error {
		if strings.HasSuffix(id, "7") && n == 1 {
			return errors.New("transient")
		}
		return nil
	})
	dead := core.NewMemoryStore(0)
	w, err := tasks.NewQueue(tasks.QueueOptions{Tasks: store, Processor: p, DeadLetters: dead, RetryBackoff: 5 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); w.Run(runCtx) }()
	defer func() { cancel(); <-done }()
	for i := 0; i < 200; i++ {
		if err := w.Enqueue(ctx, event(fmt.Sprint("t-", i), core.BatchSucceeded)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the backlog to drain", func() bool {
		ts, _ := store.MemoryStore.ListTasks(ctx)
		return len(ts) == 0
	})
	for i := 0; i < 200; i++ {
		want := 1
		if strings.HasSuffix(fmt.Sprint(i), "7") {
			want = 2 // failed once, retried from memory
		}
		if got := p.count(fmt.Sprint("t-", i)); got != want {
			t.Fatalf("t-%d ran %d times, want %d", i, got, want)
		}
	}
	if p.count("left-0") != 1 {
		t.Fatal("task left in the store was not resumed")
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	if store.lists != 1 {
		t.Fatalf("store listed %d times, want once (at start)", store.lists)
	}
}
