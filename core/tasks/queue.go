package tasks

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/internal/text"
)

// Defaults of the embedded worker. DefaultConcurrency is high for a
// local queue because its lanes mostly wait (on the disk's commits, on the
// Gemini API): the file store groups the commits of concurrent attempts into one
// fsync, so more lanes process more tasks per second, not more CPU (on the
// file store, 32 lanes: 4,500 processed/s; 128: 16,600, BenchmarkFileStoreDelivery).
// Landings, which hold buffers, are bounded apart (jobs.Config.MaxLandings).
const (
	DefaultMaxAttempts  = 5
	DefaultConcurrency  = 128
	DefaultRetryBackoff = 2 * time.Second
	MaxRetryBackoff     = 5 * time.Minute
	DefaultTaskTimeout  = 30 * time.Minute
	DefaultSuspectAlone = 10 * time.Second
)

// QueueOptions configure a Queue. Tasks, Processor and DeadLetters are required.
type QueueOptions struct {
	Tasks       QueueStore
	Processor   core.Processor
	DeadLetters core.DeadLetters
	Logger      *slog.Logger

	MaxAttempts  int           // attempts before a task becomes a dead letter; 0: 5
	Concurrency  int           // tasks processed at once; 0: DefaultConcurrency (128)
	RetryBackoff time.Duration // wait after the first failure, doubled after each (max 5 min); 0: 2 s
	TaskTimeout  time.Duration // bound of one attempt; 0: 30 min
	SuspectAlone time.Duration // how long a suspect runs alone (SuspectCrashes); 0: 10 s
	StoreTimeout time.Duration // bound of each task store call; 0: 5 s
	// The backlog's bounds (tasks queued or running, and their bodies'
	// bytes, which the queue holds in memory): past either, Enqueue fails
	// with core.ErrQueueFull and the receiver answers 503, so Gemini retries
	// later instead of the backlog growing without end. 0: 10,000 and 64 MiB.
	MaxBacklog      int
	MaxBacklogBytes int64
	Clock           func() time.Time
}

// SuspectCrashes is the number of crashes that must have interrupted a
// task's attempts before it becomes a suspect. Suspects run first after a
// start, one at a time, and each alone for its first SuspectAlone (10 s):
// no other task starts meanwhile, so the crashes of a poison event, once it
// is a suspect, interrupt nothing else (a later crash of a slow suspect
// interrupts the tasks that started beside it after that time, at most
// twice each before they are suspects too). The tasks that happened to run
// beside a poison event are thus charged at most twice for its crashes, and
// with MaxAttempts of 3 or more only the poison event ends in the dead
// letters. One crash (an OOM kill, a deploy) makes no suspect and slows
// nothing down.
const SuspectCrashes = 2

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
// cost of a dispatch does not grow with the backlog. Only the attempts a
// crash interrupted are charged (see QueueStore).
type Queue struct {
	o    QueueOptions
	wake chan struct{}

	mu         sync.Mutex
	held       map[string]int  // every task in the queue (pending, waiting or running): its body's size
	heldB      int64           // the sum of held
	pending    map[string]Task // scheduled, not running: the latest version of each
	ready      []string        // ids due now, oldest first (may hold stale ids)
	waiting    retryHeap       // ids due later, by NotBefore (may hold stale entries)
	running    map[string]bool
	suspect    bool      // a suspect (SuspectCrashes) is running
	aloneUntil time.Time // until then it runs alone
	apart      []string  // suspects due while one runs, in order (may hold stale ids)
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
	if o.SuspectAlone <= 0 {
		o.SuspectAlone = DefaultSuspectAlone
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
func (q *Queue) Enqueue(ctx context.Context, ev *core.Event) error {
	t := NewTask(ev, q.o.Clock())
	if err := q.room(t); err != nil {
		return err
	}
	if err := q.o.Tasks.PutTask(ctx, t); err != nil {
		return fmt.Errorf("enqueue %s: %w", ev.Delivery.ID, err)
	}
	q.schedule(t, true)
	return nil
}

// room fails with core.ErrQueueFull when the backlog has no room for t.
func (q *Queue) room(t Task) error {
	q.mu.Lock()
	_, again := q.held[t.ID]
	full := !again && (len(q.held) >= q.o.MaxBacklog || q.heldB+int64(len(t.Body)) > q.o.MaxBacklogBytes)
	n, b := len(q.held), q.heldB
	q.mu.Unlock()
	if full {
		return fmt.Errorf("enqueue %s: %w (%d tasks, %d bytes waiting)", t.ID, core.ErrQueueFull, n, b)
	}
	return nil
}

// Replay moves the dead letter key back into the queue with fresh attempts.
func (q *Queue) Replay(ctx context.Context, key string) error {
	t, err := ReplayDeadLetter(ctx, q.o.DeadLetters, q.o.Tasks, key, q.o.Clock())
	if err != nil {
		return err
	}
	q.schedule(t, true)
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
func (q *Queue) schedule(t Task, replace bool) {
	q.mu.Lock()
	if _, ok := q.pending[t.ID]; ok && !replace {
		q.mu.Unlock()
		return
	}
	q.hold(t)
	q.pending[t.ID] = t
	if t.NotBefore.After(q.o.Clock()) {
		heap.Push(&q.waiting, retryAt{id: t.ID, at: t.NotBefore})
	} else {
		q.ready = append(q.ready, t.ID)
	}
	q.mu.Unlock()
	q.poke()
}

func (q *Queue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Run processes tasks until ctx ends, then waits for the attempts in
// flight (their context ends with ctx; they are put back as they were,
// uncharged).
func (q *Queue) Run(ctx context.Context) {
	var wg sync.WaitGroup
	if !q.load(ctx) {
		return
	}
	defer q.stop(&wg)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		wait := time.Hour
		if next := q.dispatch(ctx, &wg); !next.IsZero() {
			wait = max(next.Sub(q.o.Clock()), 10*time.Millisecond)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
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

// stop waits for the attempts in flight (each ended, so that the next start
// charges none of them) and releases what the run held in the store.
func (q *Queue) stop(wg *sync.WaitGroup) {
	wg.Wait()
	sctx, cancel := context.WithTimeout(context.Background(), q.o.StoreTimeout)
	defer cancel()
	if err := q.o.Tasks.Stop(sctx); err != nil {
		q.o.Logger.Warn("worker: cannot release the task store", "error", err.Error())
	}
}

// load schedules the tasks a previous run left in the store, retrying
// until the store answers; false when ctx ended first. The attempts a crash
// interrupted are charged (QueueStore.Resume); a task that has none left
// becomes a dead letter without running again: its last attempt took the
// process down.
func (q *Queue) load(ctx context.Context) bool {
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, 10*time.Second) {
		sctx, cancel := context.WithTimeout(ctx, q.o.StoreTimeout)
		tasks, err := q.o.Tasks.Resume(sctx)
		cancel()
		if err == nil {
			// Suspects first: each runs alone, before the others start. The
			// others keep the store's order: the tasks one crash interrupted
			// are not put together again, so that few of those that ran
			// beside a poison event run beside it at its next crash too.
			slices.SortStableFunc(tasks, func(a, b Task) int {
				return cmp.Compare(suspectRank(b), suspectRank(a))
			})
			for _, t := range tasks {
				if t.Attempts >= q.o.MaxAttempts {
					t.LastError = text.Truncate("no attempt left at start-up: the process stopped during or right after the last one; "+t.LastError, 2048)
					q.deadLetter(context.WithoutCancel(ctx), t, core.EventLine{Msg: core.LineTask, ID: t.ID, Scheme: t.Scheme, Attempt: t.Attempts})
					continue
				}
				q.schedule(t, false)
			}
			return true
		}
		q.o.Logger.Error("worker: cannot list queued tasks; retrying", "error", err.Error())
		select {
		case <-ctx.Done():
			return false
		case <-time.After(delay):
		}
	}
}

// suspectRank is 1 for a suspect, else 0.
func suspectRank(t Task) int {
	if t.Crashes >= SuspectCrashes {
		return 1
	}
	return 0
}

// dispatch starts due tasks while there is room and returns when the next
// waiting one is due (zero: none waits).
func (q *Queue) dispatch(ctx context.Context, wg *sync.WaitGroup) time.Time {
	q.mu.Lock()
	defer q.mu.Unlock()
	// Read under the lock: a task that schedule found due (its own read,
	// under the lock too) must not look early here and be dropped.
	now := q.o.Clock()
	for q.waiting.Len() > 0 && !q.waiting[0].at.After(now) {
		q.ready = append(q.ready, heap.Pop(&q.waiting).(retryAt).id)
	}
	for len(q.ready) > 0 && len(q.running) < q.o.Concurrency {
		if q.suspect && now.Before(q.aloneUntil) {
			break // a suspect runs alone
		}
		id := q.ready[0]
		t, ok := q.pending[id]
		if !ok || q.running[id] || t.NotBefore.After(now) {
			q.ready = q.ready[1:]
			continue // stale: started already, or rescheduled later
		}
		suspect := t.Crashes >= SuspectCrashes
		if suspect && q.suspect {
			// One suspect at a time: it waits, the others go on.
			q.apart = append(q.apart, id)
			q.ready = q.ready[1:]
			continue
		}
		if suspect && len(q.running) > 0 {
			break // it will run alone: the tasks behind it wait with it
		}
		q.ready = q.ready[1:]
		if suspect {
			q.suspect, q.aloneUntil = true, now.Add(q.o.SuspectAlone)
		}
		delete(q.pending, id)
		q.running[id] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			q.attempt(ctx, t)
			q.mu.Lock()
			delete(q.running, id)
			if _, again := q.pending[id]; again {
				// Rescheduled by its attempt: a dispatch meanwhile dropped its
				// entry as stale (it was running), so it is due again here (an
				// entry that is not due yet is dropped, its retry kept).
				q.ready = append(q.ready, id)
			}
			if suspect {
				q.suspect = false
				q.ready = append(q.apart, q.ready...) // the next suspect first
				q.apart = nil
			}
			q.mu.Unlock()
			q.poke()
		}()
	}
	var next time.Time
	if q.waiting.Len() > 0 {
		next = q.waiting[0].at
	}
	if q.suspect && now.Before(q.aloneUntil) && (next.IsZero() || q.aloneUntil.Before(next)) {
		next = q.aloneUntil
	}
	return next
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
func (q *Queue) attempt(ctx context.Context, t Task) {
	log := q.o.Logger.With("webhook_id", t.ID)
	actx, outcome, err := q.begin(ctx, t)
	if err != nil {
		log.Error("worker: cannot record the attempt; will retry", "error", err.Error())
		t.NotBefore = q.o.Clock().Add(q.backoff(1))
		q.schedule(t, false)
		return
	}
	defer outcome.End()
	// The attempt's one "task" line, as the cloud workers' (Runner): this
	// attempt's number (it counts once it failed), what the handlers
	// added, and how it ended.
	start := q.o.Clock()
	line := core.EventLine{Msg: core.LineTask, ID: t.ID, Scheme: t.Scheme, Attempt: t.Attempts + 1}
	ev, err := t.Event()
	if err == nil {
		line.Event = ev
		pctx, cancel := context.WithTimeout(actx, q.o.TaskTimeout)
		pctx, line.Attrs = core.WithEventLine(pctx, q.o.Logger, ev)
		err = q.o.Processor.Process(pctx, ev)
		cancel()
	}
	detached := context.WithoutCancel(ctx)
	if err == nil {
		dctx, dcancel := context.WithTimeout(detached, q.o.StoreTimeout)
		err = outcome.Done(dctx, t.ID)
		dcancel()
		if err == nil {
			q.done(t.ID)
			line.Outcome, line.Latency = core.OutcomeProcessed, q.o.Clock().Sub(start)
			line.Log(ctx, q.o.Logger)
			return
		}
		// What the processing wrote is not committed: it runs again.
		err = q.commitFailed(err)
	}
	if ctx.Err() != nil {
		// Shutting down: the failure is ours, not the task's, which stays
		// as it was.
		return
	}
	t.Attempts++ // an attempt counts once it failed (or, after a crash, at start-up)
	t.LastError = text.Truncate(err.Error(), 2048)
	var later *core.RetryLaterError
	if errors.As(err, &later) {
		if later.Free {
			t.Attempts--
		}
		t.NotBefore = later.At
	} else {
		t.NotBefore = q.o.Clock().Add(q.backoff(t.Attempts))
	}
	dead := errors.Is(err, core.ErrPermanent) || t.Attempts >= q.o.MaxAttempts
	line.Latency = q.o.Clock().Sub(start)
	if !dead {
		line.Outcome, line.RetryAt, line.Err = core.OutcomeRetry, t.NotBefore, err
		line.Log(ctx, q.o.Logger)
	}
	rctx, rcancel := context.WithTimeout(detached, q.o.StoreTimeout)
	err = outcome.Retry(rctx, t)
	rcancel()
	if err != nil {
		log.Error("worker: cannot record the failed attempt; retrying from memory", "error", err.Error())
	}
	if dead {
		q.deadLetter(detached, t, line)
		return
	}
	q.schedule(t, false)
}

// begin starts an attempt of t: the context to process it in and how its
// outcome is committed. Only an attempt that starts is ever charged: the
// store records its start, charged at the next start-up if a crash
// interrupts it, so a task that crashes the process every time ends as a
// dead letter, and the tasks that wait meanwhile lose nothing.
func (q *Queue) begin(ctx context.Context, t Task) (context.Context, Attempt, error) {
	return q.o.Tasks.BeginAttempt(ctx, t)
}

// commitFailed is the failure of an attempt whose processing succeeded but
// could not be committed (a store that finds the failure is no fault of the
// task says so with a core.RetryLaterError).
func (q *Queue) commitFailed(err error) error {
	return fmt.Errorf("commit the processed task: %w", err)
}

// hold counts t in the backlog (q.mu held).
func (q *Queue) hold(t Task) {
	q.heldB += int64(len(t.Body) - q.held[t.ID])
	q.held[t.ID] = len(t.Body)
}

// done takes a task that left the queue (processed, dead-lettered) out of
// the backlog.
func (q *Queue) done(id string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.heldB -= int64(q.held[id])
	delete(q.held, id)
}

// deadLetter keeps t as a dead letter and deletes it; line is the task's
// line, logged once it is kept.
func (q *Queue) deadLetter(ctx context.Context, t Task, line core.EventLine) {
	log := q.o.Logger.With("webhook_id", t.ID)
	d := core.DeadLetter{Key: t.ID, Scheme: t.Scheme, Reason: t.LastError, Body: t.Body, ReceivedAt: t.EnqueuedAt, Attempts: t.Attempts}
	if ev, err := core.ParseEvent(t.Body); err == nil {
		d.EventType = ev.Type
		if line.Event == nil {
			line.Event = ev
		}
	}
	sctx, cancel := context.WithTimeout(ctx, q.o.StoreTimeout)
	defer cancel()
	if err := q.o.DeadLetters.PutDeadLetter(sctx, d); err != nil {
		// Keep the task rather than lose it; it is retried later.
		log.Error("worker: cannot keep dead letter; task kept", "error", err.Error())
		t.NotBefore = q.o.Clock().Add(MaxRetryBackoff)
		_ = q.o.Tasks.PutTask(sctx, t)
		q.schedule(t, false)
		return
	}
	if err := q.o.Tasks.DeleteTask(sctx, t.ID); err != nil {
		log.Warn("worker: dead-lettered task not deleted", "error", err.Error())
	}
	q.done(t.ID)
	line.Outcome, line.Reason = core.OutcomeDeadLetter, d.Reason
	line.Log(ctx, q.o.Logger)
}

// backoff after the n-th failed attempt: RetryBackoff doubled n-1 times,
// at most MaxRetryBackoff.
func (q *Queue) backoff(n int) time.Duration {
	return core.Backoff{First: q.o.RetryBackoff, Max: MaxRetryBackoff}.Delay(n)
}
