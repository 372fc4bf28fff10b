package tasks

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/geminiwebhooks/receiver/core"
)

// Defaults of the embedded worker.
const (
	DefaultMaxAttempts  = 5
	DefaultConcurrency  = 2
	DefaultRetryBackoff = 2 * time.Second
	MaxRetryBackoff     = 5 * time.Minute
	DefaultTaskTimeout  = 30 * time.Minute
)

// QueueOptions configure a Queue. Tasks, Processor and DeadLetters are required.
type QueueOptions struct {
	Tasks       Store
	Processor   core.Processor
	DeadLetters core.DeadLetters
	Logger      *slog.Logger

	MaxAttempts  int           // attempts before a task becomes a dead letter; 0: 5
	Concurrency  int           // tasks processed at once; 0: 2
	RetryBackoff time.Duration // wait after the first failure, doubled after each (max 5 min); 0: 2 s
	TaskTimeout  time.Duration // bound of one attempt; 0: 30 min
	StoreTimeout time.Duration // bound of each task store call; 0: 5 s
	// The backlog's bounds (tasks queued or running, and their bodies'
	// bytes, which the queue holds in memory): past either, Enqueue fails
	// with core.ErrQueueFull and the receiver answers 503, so Gemini retries
	// later instead of the backlog growing without end. 0: 10,000 and 64 MiB.
	MaxBacklog      int
	MaxBacklogBytes int64
	Clock           func() time.Time
}

// Defaults of the backlog's bounds.
const (
	DefaultMaxBacklog      = 10000
	DefaultMaxBacklogBytes = 64 << 20
)

// Queue is the embedded, in-process queue of the local server. Enqueue
// writes the task to the Store (durable) before it returns and then
// hands it to the worker in memory; Run processes due tasks, retries
// failures with backoff and keeps a task that failed MaxAttempts times as a
// dead letter. The store is read once, when Run starts, to resume the tasks
// a crash left behind; after that scheduling happens in memory, so the
// cost of a dispatch does not grow with the backlog.
type Queue struct {
	o    QueueOptions
	wake chan struct{}

	mu      sync.Mutex
	held    map[string]int  // every task in the queue (pending, waiting or running): its body's size
	heldB   int64           // the sum of held
	pending map[string]Task // scheduled, not running: the latest version of each
	ready   []string        // ids due now, oldest first (may hold stale ids)
	waiting retryHeap       // ids due later, by NotBefore (may hold stale entries)
	running map[string]bool
}

// NewQueue checks o and applies its defaults; Run starts it.
func NewQueue(o QueueOptions) (*Queue, error) {
	if o.Tasks == nil || o.Processor == nil || o.DeadLetters == nil {
		return nil, errors.New("worker: Tasks, Processor and DeadLetters are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = DefaultRetryBackoff
	}
	if o.TaskTimeout <= 0 {
		o.TaskTimeout = DefaultTaskTimeout
	}
	if o.StoreTimeout <= 0 {
		o.StoreTimeout = core.DefaultStoreTimeout
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.MaxBacklog <= 0 {
		o.MaxBacklog = DefaultMaxBacklog
	}
	if o.MaxBacklogBytes <= 0 {
		o.MaxBacklogBytes = DefaultMaxBacklogBytes
	}
	return &Queue{o: o, wake: make(chan struct{}, 1), held: make(map[string]int), pending: make(map[string]Task), running: make(map[string]bool)}, nil
}

// Enqueue stores ev as a task, durably, then schedules it. It refuses
// (core.ErrQueueFull) when the backlog is at its bounds.
func (w *Queue) Enqueue(ctx context.Context, ev *core.Event) error {
	t := NewTask(ev, w.o.Clock())
	w.mu.Lock()
	_, again := w.held[t.ID]
	full := !again && (len(w.held) >= w.o.MaxBacklog || w.heldB+int64(len(t.Body)) > w.o.MaxBacklogBytes)
	n, b := len(w.held), w.heldB
	w.mu.Unlock()
	if full {
		return fmt.Errorf("enqueue %s: %w (%d tasks, %d bytes waiting)", ev.Delivery.ID, core.ErrQueueFull, n, b)
	}
	if err := w.o.Tasks.PutTask(ctx, t); err != nil {
		return fmt.Errorf("enqueue %s: %w", ev.Delivery.ID, err)
	}
	w.schedule(t, true)
	return nil
}

// Replay moves the dead letter key back into the queue with fresh attempts.
func (w *Queue) Replay(ctx context.Context, key string) error {
	t, err := ReplayDeadLetter(ctx, w.o.DeadLetters, w.o.Tasks, key, w.o.Clock())
	if err != nil {
		return err
	}
	w.schedule(t, true)
	return nil
}

// ReplayDeadLetter queues dead letter key as a new task and then deletes
// it. A crash in between replays it twice, which job processing absorbs.
func ReplayDeadLetter(ctx context.Context, dead core.DeadLetters, tasks Store, key string, now time.Time) (Task, error) {
	all, err := dead.ListDeadLetters(ctx, 0)
	if err != nil {
		return Task{}, err
	}
	for _, d := range all {
		if d.Key != key {
			continue
		}
		t := Task{ID: d.Key, Scheme: d.Scheme, Body: d.Body, EnqueuedAt: now}
		if err := tasks.PutTask(ctx, t); err != nil {
			return Task{}, err
		}
		return t, dead.DeleteDeadLetter(ctx, key)
	}
	return Task{}, fmt.Errorf("%w: %q", core.ErrNoDeadLetter, key)
}

// schedule makes t due at its NotBefore. replace says whether t supersedes a
// version already scheduled (an enqueue or replay does; the start-up load of
// the store does not, since what is in memory is as new).
func (w *Queue) schedule(t Task, replace bool) {
	w.mu.Lock()
	if _, ok := w.pending[t.ID]; ok && !replace {
		w.mu.Unlock()
		return
	}
	w.hold(t)
	w.pending[t.ID] = t
	if t.NotBefore.After(w.o.Clock()) {
		heap.Push(&w.waiting, retryAt{id: t.ID, at: t.NotBefore})
	} else {
		w.ready = append(w.ready, t.ID)
	}
	w.mu.Unlock()
	w.poke()
}

func (w *Queue) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run processes tasks until ctx ends, then waits for the attempts in
// flight (their context ends with ctx; they are put back as they were).
func (w *Queue) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	if !w.load(ctx) {
		return
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		wait := time.Hour
		if next := w.dispatch(ctx, &wg); !next.IsZero() {
			wait = max(next.Sub(w.o.Clock()), 10*time.Millisecond)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// load schedules the tasks a previous run left in the store, retrying
// until the store answers; false when ctx ended first.
func (w *Queue) load(ctx context.Context) bool {
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, 10*time.Second) {
		sctx, cancel := context.WithTimeout(ctx, w.o.StoreTimeout)
		tasks, err := w.o.Tasks.ListTasks(sctx)
		cancel()
		if err == nil {
			for _, t := range tasks {
				w.schedule(t, false)
			}
			return true
		}
		w.o.Logger.Error("worker: cannot list queued tasks; retrying", "error", err.Error())
		select {
		case <-ctx.Done():
			return false
		case <-time.After(delay):
		}
	}
}

// dispatch starts due tasks while there is room and returns when the next
// waiting one is due (zero: none waits).
func (w *Queue) dispatch(ctx context.Context, wg *sync.WaitGroup) time.Time {
	now := w.o.Clock()
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.waiting.Len() > 0 && !w.waiting[0].at.After(now) {
		w.ready = append(w.ready, heap.Pop(&w.waiting).(retryAt).id)
	}
	for len(w.ready) > 0 && len(w.running) < w.o.Concurrency {
		id := w.ready[0]
		w.ready = w.ready[1:]
		t, ok := w.pending[id]
		if !ok || w.running[id] || t.NotBefore.After(now) {
			continue // stale: started already, or rescheduled later
		}
		delete(w.pending, id)
		w.running[id] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.attempt(ctx, t)
			w.mu.Lock()
			delete(w.running, id)
			w.mu.Unlock()
			w.poke()
		}()
	}
	if w.waiting.Len() > 0 {
		return w.waiting[0].at
	}
	return time.Time{}
}

// retryHeap orders waiting tasks by when they are due.
type retryAt struct {
	id string
	at time.Time
}

type retryHeap []retryAt

func (h retryHeap) Len() int           { return len(h) }
func (h retryHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h retryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *retryHeap) Push(x any)        { *h = append(*h, x.(retryAt)) }
func (h *retryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// attempt runs one try of t and records its outcome in the store.
func (w *Queue) attempt(ctx context.Context, t Task) {
	log := w.o.Logger.With("webhook_id", t.ID)
	// Count the attempt before running it, so a task that crashes the
	// process every time still ends as a dead letter.
	t.Attempts++
	if err := w.put(ctx, t); err != nil {
		log.Error("worker: cannot record the attempt; will retry", "error", err.Error())
		t.Attempts--
		t.NotBefore = w.o.Clock().Add(w.backoff(1))
		w.schedule(t, false)
		return
	}
	ev, err := t.Event()
	if err == nil {
		pctx, cancel := context.WithTimeout(ctx, w.o.TaskTimeout)
		err = w.o.Processor.Process(pctx, ev)
		cancel()
	}
	if err == nil {
		dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), w.o.StoreTimeout)
		defer dcancel()
		if err := w.o.Tasks.DeleteTask(dctx, t.ID); err != nil {
			log.Warn("worker: processed task not deleted; it will run again (harmless: processing is idempotent)", "error", err.Error())
		}
		w.done(t.ID)
		return
	}
	detached := context.WithoutCancel(ctx)
	if ctx.Err() != nil {
		// Shutting down: the failure is ours, not the task's.
		t.Attempts--
		_ = w.put(detached, t)
		return
	}
	t.LastError = truncate(err.Error(), 2048)
	var later *core.RetryLaterError
	if errors.As(err, &later) {
		if later.Free {
			t.Attempts--
		}
		t.NotBefore = later.At
	} else {
		t.NotBefore = w.o.Clock().Add(w.backoff(t.Attempts))
	}
	if errors.Is(err, core.ErrPermanent) || t.Attempts >= w.o.MaxAttempts {
		w.deadLetter(detached, t, log)
		return
	}
	log.Warn("worker: attempt failed; will retry", "attempt", t.Attempts, "retry_at", t.NotBefore.Format(time.RFC3339), "error", t.LastError)
	if err := w.put(detached, t); err != nil {
		log.Error("worker: cannot record the failed attempt; retrying from memory", "error", err.Error())
	}
	w.schedule(t, false)
}

// hold counts t in the backlog (w.mu held).
func (w *Queue) hold(t Task) {
	w.heldB += int64(len(t.Body) - w.held[t.ID])
	w.held[t.ID] = len(t.Body)
}

// done takes a task that left the queue (processed, dead-lettered) out of
// the backlog.
func (w *Queue) done(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.heldB -= int64(w.held[id])
	delete(w.held, id)
}

func (w *Queue) deadLetter(ctx context.Context, t Task, log *slog.Logger) {
	d := core.DeadLetter{Key: t.ID, Scheme: t.Scheme, Reason: t.LastError, Body: t.Body, ReceivedAt: t.EnqueuedAt, Attempts: t.Attempts}
	if ev, err := core.ParseEvent(t.Body); err == nil {
		d.EventType = ev.Type
	}
	sctx, cancel := context.WithTimeout(ctx, w.o.StoreTimeout)
	defer cancel()
	if err := w.o.DeadLetters.PutDeadLetter(sctx, d); err != nil {
		// Keep the task rather than lose it; it is retried later.
		log.Error("worker: cannot keep dead letter; task kept", "error", err.Error())
		t.NotBefore = w.o.Clock().Add(MaxRetryBackoff)
		_ = w.o.Tasks.PutTask(sctx, t)
		w.schedule(t, false)
		return
	}
	if err := w.o.Tasks.DeleteTask(sctx, t.ID); err != nil {
		log.Warn("worker: dead-lettered task not deleted", "error", err.Error())
	}
	w.done(t.ID)
	log.Error("worker: task dead-lettered", "event_type", d.EventType, "attempts", t.Attempts, "reason", d.Reason)
}

func (w *Queue) put(ctx context.Context, t Task) error {
	sctx, cancel := context.WithTimeout(ctx, w.o.StoreTimeout)
	defer cancel()
	return w.o.Tasks.PutTask(sctx, t)
}

// backoff after the n-th failed attempt: RetryBackoff doubled n-1 times,
// at most MaxRetryBackoff.
func (w *Queue) backoff(n int) time.Duration {
	return core.Backoff{First: w.o.RetryBackoff, Max: MaxRetryBackoff}.Delay(n)
}
