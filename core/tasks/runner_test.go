package tasks_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/tasks"
)

// flakyStore fails PutDeadLetter while fail is set.
type flakyStore struct {
	*core.MemoryStore
	fail bool
}

var errStoreDown = errors.New("store unavailable")

func (f *flakyStore) PutDeadLetter(ctx context.Context, d core.DeadLetter) error {
	if f.fail {
		return errStoreDown
	}
	return f.MemoryStore.PutDeadLetter(ctx, d)
}

// What one queue delivery ends in: acknowledged (processed, or kept as a
// dead letter when it can never succeed) or handed back for redelivery.
func TestTaskRunner(t *testing.T) {
	body := `{"type":"batch.succeeded","version":"v1","data":{"id":"batches/x"}}`
	errDown := errors.New("gemini unavailable")
	cases := []struct {
		name      string
		body      string
		results   []error // what successive Process calls return
		storeDown bool
		deadline  time.Duration // of the delivery; 0: none

		wantErr   error // nil: acknowledged
		wantCalls int
		wantDead  string // in the dead letter's reason; "": none kept
	}{
		{name: "processed", body: body, results: []error{nil}, wantCalls: 1},
		{name: "transient failure is redelivered", body: body, results: []error{errDown}, wantErr: errDown, wantCalls: 1},
		{name: "permanent failure is kept and acknowledged", body: body, results: []error{fmt.Errorf("%w: bad output", core.ErrPermanent)}, wantCalls: 1, wantDead: "bad output"},
		{name: "body that is not an event is kept", body: `{"version":`, wantDead: "permanent failure"},
		{name: "dead letter not kept: redelivered", body: body, results: []error{core.ErrPermanent}, storeDown: true, wantErr: errStoreDown, wantCalls: 1},
		{name: "short retry-later is waited for here", body: body, wantCalls: 2,
			results: []error{&core.RetryLaterError{At: time.Now().Add(20 * time.Millisecond), Free: true, Reason: "busy"}, nil}},
		{name: "long retry-later goes back to the queue", body: body, wantCalls: 1, wantErr: &core.RetryLaterError{},
			results: []error{&core.RetryLaterError{At: time.Now().Add(time.Hour), Reason: "not finished"}}},
		{name: "retry-later too close to the deadline goes back", body: body, wantCalls: 1, wantErr: &core.RetryLaterError{}, deadline: time.Second,
			results: []error{&core.RetryLaterError{At: time.Now().Add(500 * time.Millisecond), Reason: "busy"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			calls := 0
			proc := core.HandlerFunc(func(ctx context.Context, ev *core.Event) error {
				if ev.Delivery.ID != "msg_1" || ev.Delivery.Scheme != core.SchemeStatic {
					t.Errorf("delivery %+v", ev.Delivery)
				}
				calls++
				if calls > len(c.results) {
					t.Fatalf("processed %d times", calls)
				}
				return c.results[calls-1]
			})
			store := &flakyStore{MemoryStore: core.NewMemoryStore(0), fail: c.storeDown}
			r := &tasks.Runner{Processor: proc, DeadLetters: store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
			ctx := context.Background()
			if c.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, c.deadline)
				defer cancel()
			}
			task := tasks.Task{ID: "msg_1", Scheme: core.SchemeStatic, Body: []byte(c.body), EnqueuedAt: time.Unix(1700000000, 0)}
			err := r.Run(ctx, task, 3)
			var later *core.RetryLaterError
			switch {
			case c.wantErr == nil && err != nil:
				t.Fatalf("err %v, want acknowledged", err)
			case c.wantErr != nil && errors.As(c.wantErr, &later) && !errors.As(err, &later):
				t.Fatalf("err %v, want a RetryLaterError", err)
			case c.wantErr != nil && !errors.As(c.wantErr, &later) && !errors.Is(err, c.wantErr):
				t.Fatalf("err %v, want %v", err, c.wantErr)
			}
			if calls != c.wantCalls {
				t.Errorf("processed %d times, want %d", calls, c.wantCalls)
			}
			dead, _ := store.ListDeadLetters(ctx, 0)
			if c.wantDead == "" {
				if len(dead) != 0 {
					t.Fatalf("dead letters %+v", dead)
				}
				return
			}
			if len(dead) != 1 {
				t.Fatalf("dead letters %+v, want 1", dead)
			}
			d := dead[0]
			if d.Key != "msg_1" || d.Scheme != core.SchemeStatic || string(d.Body) != c.body || d.Attempts != 3 ||
				!d.ReceivedAt.Equal(task.EnqueuedAt) || !strings.Contains(d.Reason, c.wantDead) {
				t.Fatalf("dead letter %+v", d)
			}
		})
	}
}

// With Claims, a task's handlers run once per delivery, whoever hands the
// task over: a second copy finds the claim completed (acknowledged, nothing
// run), a copy racing a running one is retried later for free, a failure
// releases the claim, and Replay deletes the dead letter only once the
// delivery completed.
func TestTaskRunnerClaims(t *testing.T) {
	ctx := context.Background()
	store := core.NewMemoryStore(0)
	var runs int
	fail := true
	hold := make(chan struct{})
	entered := make(chan struct{}, 1)
	r := &tasks.Runner{Claims: store, DeadLetters: store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Processor: core.HandlerFunc(func(ctx context.Context, ev *core.Event) error {
			runs++
			if fail {
				return fmt.Errorf("%w: broken", core.ErrPermanent)
			}
			entered <- struct{}{}
			<-hold
			return nil
		})}
	task := tasks.Task{ID: "msg_claims", Body: []byte(`{"type":"batch.succeeded","version":"v1","data":{"id":"batches/c"}}`)}

	if err := r.Run(ctx, task, 1); err != nil { // dead-lettered: acknowledged
		t.Fatal(err)
	}
	dls, _ := store.ListDeadLetters(ctx, 0)
	if len(dls) != 1 || runs != 1 {
		t.Fatalf("dead letters %v after %d runs", dls, runs)
	}
	fail = false
	replayed := make(chan error, 1)
	go func() {
		o, err := r.Replay(ctx, dls[0])
		if err == nil && o != core.OutcomeProcessed {
			err = fmt.Errorf("outcome %s", o)
		}
		replayed <- err
	}()
	<-entered
	if got, _ := store.ListDeadLetters(ctx, 0); len(got) != 1 {
		t.Errorf("dead letter deleted while its delivery runs")
	}
	var later *core.RetryLaterError
	if err := r.Run(ctx, task, 2); !errors.As(err, &later) || !later.Free {
		t.Errorf("a copy racing the replay: %v, want a free RetryLaterError", err)
	}
	close(hold)
	if err := <-replayed; err != nil {
		t.Fatal(err)
	}
	if got, _ := store.ListDeadLetters(ctx, 0); len(got) != 0 {
		t.Errorf("dead letters after the replay: %v", got)
	}
	if err := r.Run(ctx, task, 3); err != nil {
		t.Errorf("a later copy: %v", err)
	}
	if o, err := r.Replay(ctx, dls[0]); err != nil || o != core.OutcomeDuplicate {
		t.Errorf("second replay: %s, %v; want duplicate", o, err)
	}
	if runs != 2 {
		t.Errorf("%d runs, want 2 (the failed one, the replay)", runs)
	}
}
