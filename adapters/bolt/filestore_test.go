package bolt

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
	"github.com/geminiwebhooks/receiver/core/tasks"
)

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// hang is a handler that signals its start and holds the attempt until
// the worker stops: the moment a crash interrupts.
func hang(started chan<- struct{}) core.HandlerFunc {
	return func(ctx context.Context, _ *core.Event) error {
		started <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	}
}

// crashLoop runs the pipeline on path runs times, delivering deliveries
// (msg_bench_0000001…) in the first run; in each run it waits until the
// handler that handler(started) makes signals on started, then crashes
// the process: the file closed under the running attempts, so that nothing
// the worker does afterwards reaches it.
func crashLoop(t *testing.T, path string, o tasks.QueueOptions, runs, deliveries int, handler func(started chan<- struct{}) core.HandlerFunc) {
	t.Helper()
	wh, _ := standardwebhooks.NewWebhook(benchSecret)
	for run := 1; run <= runs; run++ {
		started := make(chan struct{}, 1)
		p := newPipeline(t, path, o, handler(started))
		if run == 1 {
			for i := 1; i <= deliveries; i++ {
				if r := p.recv.Handle(context.Background(), signed(t, wh, core.BatchFailed, i)); r.Status != http.StatusAccepted {
					t.Fatalf("delivery %d: %d %s", i, r.Status, r.Reason)
				}
			}
		}
		select {
		case <-started:
		case <-time.After(20 * time.Second):
			t.Fatalf("run %d: the task that crashes did not run", run)
		}
		p.store.Close() // the crash
		p.stopQueue()
	}
}

// A task that takes the process down every time it runs is charged, at
// each start, the attempt the crash interrupted (its start was recorded
// before it ran), runs MaxAttempts times and then ends in the dead letters
// without running again. The crash is the file closed under the running
// attempt, so that nothing the worker does afterwards reaches it.
func TestCrashLoopEndsInDeadLetters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	const max = 3
	crashLoop(t, path, tasks.QueueOptions{MaxAttempts: max}, max, 1, hang)

	p := newPipeline(t, path, tasks.QueueOptions{MaxAttempts: max}, func(context.Context, *core.Event) error {
		t.Error("the task ran after its last attempt")
		return nil
	})
	defer p.close()
	waitUntil(t, "the dead letter", func() bool { return len(p.queued(t)) == 0 })
	dl, err := p.store.ListDeadLetters(context.Background(), 0)
	if err != nil || len(dl) != 1 || dl[0].Key != "msg_bench_0000001" || dl[0].Attempts != max {
		t.Fatalf("dead letters %+v, %v; want msg_bench_0000001 after %d attempts", dl, err, max)
	}
}

// Crashes charge only the attempt they interrupt: with one lane, the task
// that runs at each of MaxAttempts crashes ends in the dead letters, and
// the tasks queued behind it, which never started, keep every attempt and
// run once the crashes stop. (Before, each start charged every due task.)
func TestCrashChargesOnlyRunningAttempts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	const max = 3
	o := tasks.QueueOptions{MaxAttempts: max, Concurrency: 1}
	crashLoop(t, path, o, max, 3, hang)

	var mu sync.Mutex
	ran := map[string]int{}
	p := newPipeline(t, path, o, func(_ context.Context, ev *core.Event) error {
		mu.Lock()
		ran[ev.Delivery.ID]++
		mu.Unlock()
		return nil
	})
	defer p.close()
	dead := p.drainedDeadLetters(t)
	if want := map[string]int{"msg_bench_0000001": max}; !maps.Equal(dead, want) {
		t.Errorf("dead letters (key: attempts) %v, want %v: only the task each crash interrupted", dead, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := map[string]int{"msg_bench_0000002": 1, "msg_bench_0000003": 1}; !maps.Equal(ran, want) {
		t.Errorf("runs after the crashes: %v, want %v", ran, want)
	}
}

// A crash loop caused by one poison event, with other tasks running beside
// it at each crash: the poison ends in the dead letters after MaxAttempts
// crashes, and no other task does. The tasks interrupted by two crashes run
// apart from each other (SuspectCrashes), so that the poison, once a
// suspect, is never again running when an innocent suspect is.
func TestPoisonCrashLoopDeadLettersOnlyThePoison(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	const max, poison = 4, "msg_bench_0000004"
	o := tasks.QueueOptions{MaxAttempts: max, Concurrency: 4}
	var mu sync.Mutex
	completed := map[string]int{}
	handler := func(started chan<- struct{}) core.HandlerFunc {
		return func(ctx context.Context, ev *core.Event) error {
			if ev.Delivery.ID == poison {
				if started == nil {
					t.Error("the poison ran after its last attempt")
					return nil
				}
				started <- struct{}{} // the test crashes the process now
				<-ctx.Done()
				return ctx.Err()
			}
			select {
			case <-time.After(300 * time.Millisecond): // running when the poison crashes
			case <-ctx.Done():
				return ctx.Err()
			}
			mu.Lock()
			completed[ev.Delivery.ID]++
			mu.Unlock()
			return nil
		}
	}
	crashLoop(t, path, o, max, 6, handler)

	p := newPipeline(t, path, o, handler(nil))
	defer p.close()
	dead := p.drainedDeadLetters(t)
	if want := map[string]int{poison: max}; !maps.Equal(dead, want) {
		t.Errorf("dead letters (key: attempts) %v, want %v: the poison only", dead, want)
	}
	mu.Lock()
	defer mu.Unlock()
	want := map[string]int{"msg_bench_0000001": 1, "msg_bench_0000002": 1, "msg_bench_0000003": 1, "msg_bench_0000005": 1, "msg_bench_0000006": 1}
	if !maps.Equal(completed, want) {
		t.Errorf("completed runs %v, want %v", completed, want)
	}
}

// drainedDeadLetters waits until the queue is empty and returns its dead
// letters' attempts by key.
func (p *pipeline) drainedDeadLetters(t *testing.T) map[string]int {
	t.Helper()
	waitUntil(t, "the queue to drain", func() bool { return len(p.queued(t)) == 0 })
	dl, err := p.store.ListDeadLetters(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	dead := map[string]int{}
	for _, d := range dl {
		dead[d.Key] = d.Attempts
	}
	return dead
}

// A clean stop in the middle of an attempt costs the task nothing: the
// next start charges no attempt, however often it happens.
func TestCleanStopChargesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	wh, _ := standardwebhooks.NewWebhook(benchSecret)
	for run := 1; run <= 4; run++ {
		started := make(chan struct{}, 1)
		p := newPipeline(t, path, tasks.QueueOptions{MaxAttempts: 2}, hang(started))
		if run == 1 {
			p.recv.Handle(context.Background(), signed(t, wh, core.BatchFailed, 1))
		}
		<-started
		p.close()
	}
	s := open(t, path)
	ts, _ := (&Tasks{db: s.DB()}).ListTasks(context.Background())
	if len(ts) != 1 || ts[0].Attempts != 0 {
		t.Fatalf("after four clean stops: %+v, want the task with 0 attempts", ts)
	}
}

// A failed attempt commits its ledger writes with the reschedule and counts.
func TestFailedAttemptCommitsWithItsRetry(t *testing.T) {
	boom := errors.New("boom")
	p := newPipeline(t, filepath.Join(t.TempDir(), "state.db"), tasks.QueueOptions{MaxAttempts: 5, RetryBackoff: time.Hour}, func(context.Context, *core.Event) error { return boom })
	defer p.close()
	wh, _ := standardwebhooks.NewWebhook(benchSecret)
	p.recv.Handle(context.Background(), signed(t, wh, core.BatchFailed, 7))
	waitUntil(t, "the failed attempt", func() bool {
		ts := p.queued(t)
		return len(ts) == 1 && ts[0].Attempts == 1
	})
	if ts := p.queued(t); ts[0].LastError != "boom" || !ts[0].NotBefore.After(time.Now()) {
		t.Fatalf("task after its failure: %+v", ts[0])
	}
	l, _ := NewLedger(p.store.DB())
	j, err := l.GetJob(context.Background(), "batches/bench-0000007")
	if err != nil || j == nil || j.State != jobs.JobFailed {
		t.Fatalf("job after the failed attempt: %+v, %v; want it recorded", j, err)
	}
}

// The receive is one transaction: a duplicate is answered 200, and a full
// queue takes no claim, so the retry is accepted once there is room.
func TestReceiveInOneTransaction(t *testing.T) {
	ctx := context.Background()
	started := make(chan struct{}, 10)
	release := make(chan struct{})
	p := newPipeline(t, filepath.Join(t.TempDir(), "state.db"), tasks.QueueOptions{MaxBacklog: 1}, func(ctx context.Context, ev *core.Event) error {
		if ev.Delivery.ID == "msg_bench_0000000" {
			return nil
		}
		started <- struct{}{}
		<-release
		return nil
	})
	defer p.close()
	wh, _ := standardwebhooks.NewWebhook(benchSecret)
	// A first delivery, processed, shows the worker started (its start-up
	// transaction is not counted below).
	p.recv.Handle(ctx, signed(t, wh, core.InteractionRequiresAction, 0))
	waitUntil(t, "the first delivery", func() bool { return p.handled.Load() == 1 && len(p.queued(t)) == 0 })
	// Its job does not end, so the attempt writes nothing before the handler.
	// (The worker takes the first one out of the backlog just after its
	// task left the file: until then the queue is full, which writes
	// nothing.)
	// It returns the write transactions of the receive that was accepted.
	accept := func(typ string, i int) int64 {
		for {
			txs := writeTxs.Load()
			r := p.recv.Handle(ctx, signed(t, wh, typ, i))
			if r.Status == http.StatusAccepted {
				return writeTxs.Load() - txs
			}
			if r.Reason != "queue full" {
				t.Fatalf("delivery %d: %d %s", i, r.Status, r.Reason)
			}
			time.Sleep(time.Millisecond)
		}
	}
	if n := accept(core.InteractionRequiresAction, 1); n != 1 {
		t.Fatalf("the receive took %d write transactions, want 1", n)
	}
	if rec, _ := p.store.Get("msg_bench_0000001"); rec == nil || rec.State != core.StateCompleted {
		t.Fatalf("claim after the 202: %+v, want completed", rec)
	}
	<-started
	if r := p.recv.Handle(ctx, signed(t, wh, core.InteractionRequiresAction, 1)); r.Status != http.StatusOK || r.Outcome != core.OutcomeDuplicate {
		t.Fatalf("redelivery: %d %s", r.Status, r.Outcome)
	}
	if r := p.recv.Handle(ctx, signed(t, wh, core.BatchFailed, 2)); r.Status != http.StatusServiceUnavailable || r.Reason != "queue full" {
		t.Fatalf("over the backlog: %d %s", r.Status, r.Reason)
	}
	if rec, _ := p.store.Get("msg_bench_0000002"); rec != nil {
		t.Fatalf("a refused delivery left a claim: %+v", rec)
	}
	close(release)
	waitUntil(t, "room in the queue", func() bool { return len(p.queued(t)) == 0 })
	accept(core.BatchFailed, 2) // the retry, once there is room
}

// An attempt's first ledger write is held: others do not see it until the
// attempt's next ledger call, or its outcome, commits it in the same
// transaction; every later write is committed at once. A held write whose
// job another writer changed meanwhile is dropped, and the attempt runs
// again, free.
func TestAttemptWrites(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	l, _ := NewLedger(s.DB())
	q, _ := NewTasks(s.DB())
	if _, err := q.Resume(ctx); err != nil { // as the worker does before its first attempt
		t.Fatal(err)
	}
	defer q.Stop(ctx)
	begin := func(id string) (context.Context, tasks.Attempt) {
		q.PutTask(ctx, tasks.Task{ID: id, Body: []byte(`{}`)})
		actx, a, err := q.BeginAttempt(ctx, tasks.Task{ID: id})
		if err != nil {
			t.Fatal(err)
		}
		return actx, a
	}
	step := func(state jobs.JobState) func(*jobs.Job) (*jobs.Job, error) {
		return func(j *jobs.Job) (*jobs.Job, error) {
			if j == nil {
				j = &jobs.Job{Kind: "batch"}
			}
			j.State = state
			j.Events = append(j.Events, string(state))
			return j, nil
		}
	}
	committed := func(id string) *jobs.Job {
		t.Helper()
		j, err := l.GetJob(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	txsOf := func(f func()) int64 {
		n := writeTxs.Load()
		f()
		return writeTxs.Load() - n
	}

	// The first write is held; the next call commits it with its own.
	actx, a := begin("msg_1")
	if n := txsOf(func() { l.UpdateJob(actx, "batches/a", step(jobs.JobPending)) }); n != 0 {
		t.Fatalf("the first write took %d transactions, want it held", n)
	}
	if j := committed("batches/a"); j != nil {
		t.Fatalf("held write seen outside the attempt: %+v", j)
	}
	var j *jobs.Job
	if n := txsOf(func() { j, _ = l.UpdateJob(actx, "batches/a", step(jobs.JobRunning)) }); n != 1 || len(j.Events) != 2 {
		t.Fatalf("second write: %d transactions, events %v; want 1 with both", n, j.Events)
	}
	if j := committed("batches/a"); j == nil || j.State != jobs.JobRunning || len(j.Events) != 2 {
		t.Fatalf("after the second write: %+v", j)
	}
	var err error
	if n := txsOf(func() { err = a.Done(ctx, "msg_1") }); n != 1 || err != nil {
		t.Fatalf("Done took %d transactions: %v", n, err)
	}
	if ts, _ := q.ListTasks(ctx); len(ts) != 0 {
		t.Fatalf("task not deleted: %+v", ts)
	}

	// A held write commits with the task's deletion; a read of the attempt
	// commits it first.
	actx, a = begin("msg_2")
	l.UpdateJob(actx, "batches/b", step(jobs.JobPending))
	if n := txsOf(func() { a.Done(ctx, "msg_2") }); n != 1 {
		t.Fatalf("Done took %d transactions, want 1 with the held write", n)
	}
	if j := committed("batches/b"); j == nil || j.State != jobs.JobPending {
		t.Fatalf("after Done: %+v", j)
	}
	actx, _ = begin("msg_3")
	l.UpdateJob(actx, "batches/b", step(jobs.JobRunning))
	if j, _ := l.GetJob(actx, "batches/b"); j == nil || j.State != jobs.JobRunning {
		t.Fatalf("the attempt's read: %+v", j)
	}
	if j := committed("batches/b"); j == nil || j.State != jobs.JobRunning {
		t.Fatalf("the attempt's read did not commit what it held: %+v", j)
	}

	// Only the first call holds: after a read, a write is committed at once.
	actx, _ = begin("msg_4")
	l.GetJob(actx, "batches/c")
	l.UpdateJob(actx, "batches/c", step(jobs.JobPending))
	if j := committed("batches/c"); j == nil {
		t.Fatal("a write after the attempt's first call was held")
	}

	// Another writer changed the job: the held write is dropped, Done says
	// to run again at once and free, and the reschedule commits alone.
	actx, a = begin("msg_5")
	l.UpdateJob(actx, "batches/a", step(jobs.JobSucceeded))
	l.UpdateJob(ctx, "batches/a", step(jobs.JobFailed))
	var later *core.RetryLaterError
	if err := a.Done(ctx, "msg_5"); !errors.As(err, &later) || !later.Free {
		t.Fatalf("Done over a changed record: %v, want a free retry", err)
	}
	if j := committed("batches/a"); j.State != jobs.JobFailed {
		t.Fatalf("the conflicting commit wrote: %+v", j)
	}
	if err := a.Retry(ctx, tasks.Task{ID: "msg_5", Attempts: 1}); err != nil {
		t.Fatal(err)
	}
	if ts, _ := q.ListTasks(ctx); len(ts) != 3 || ts[2].ID != "msg_5" || ts[2].Attempts != 1 {
		t.Fatalf("after the reschedule: %+v", ts)
	}
}
