package tasks

import (
	"context"
	"fmt"
	"time"

	"github.com/geminiwebhooks/receiver/core"
)

// Task is a queued event: the verified body and who delivered it, plus the
// worker's bookkeeping. It is what a durable queue stores.
type Task struct {
	ID         string      `json:"id"` // delivery id
	Scheme     core.Scheme `json:"scheme,omitempty"`
	Body       []byte      `json:"body"`
	EnqueuedAt time.Time   `json:"enqueued_at"`
	Attempts   int         `json:"attempts,omitempty"` // attempts started
	// Crashes counts the attempts a crash interrupted (QueueStore.Resume); from
	// SuspectCrashes on the task is a suspect, run apart (Queue).
	Crashes   int       `json:"crashes,omitempty"`
	NotBefore time.Time `json:"not_before,omitzero"`
	LastError string    `json:"last_error,omitempty"`

	// parsed is the event the task was made from, in this process (never
	// stored): the worker need not parse the body again.
	parsed *core.Event
}

// NewTask queues ev as received.
func NewTask(ev *core.Event, now time.Time) Task {
	return Task{ID: ev.Delivery.ID, Scheme: ev.Delivery.Scheme, Body: ev.Raw, EnqueuedAt: now, parsed: ev}
}

// Event is the task's event: the one it was made from in this process (a
// copy, so that what an attempt changes in it does not reach the next), or
// its body parsed again (a task read back from the store). The body was
// verified before it was queued; a body that does not parse can never
// succeed (ErrPermanent).
func (t Task) Event() (*core.Event, error) {
	if t.parsed != nil {
		ev := *t.parsed
		return &ev, nil
	}
	ev, err := core.ParseEvent(t.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", core.ErrPermanent, err)
	}
	ev.Delivery = core.Delivery{ID: t.ID, Scheme: t.Scheme}
	return ev, nil
}

// Store keeps queued tasks durably: PutTask (create or replace by ID)
// has written the task to stable storage when it returns.
type Store interface {
	PutTask(ctx context.Context, t Task) error
	ListTasks(ctx context.Context) ([]Task, error)
	DeleteTask(ctx context.Context, id string) error
}

// QueueStore is the Store a Queue runs on: it also records the attempts
// the Queue runs, so that a crash is charged to the attempts it interrupted
// and to no other (MemoryStore, which nothing outlives, charges none; the
// local file store keeps the record beside its file):
//   - BeginAttempt records that an attempt of t starts, before it runs, and
//     returns the context the attempt runs in (a store may keep there what
//     the attempt's processing writes through it, to commit it with the
//     outcome) and the Attempt that commits its outcome, the task's deletion
//     or reschedule. An attempt counts once it failed.
//   - Resume, at start-up and in one step, charges one attempt (and one
//     crash, Task.Crashes) to each task whose attempt the previous run
//     started and never settled (the ones a crash interrupted), and to no
//     other, so that a task that crashes the process every time still ends
//     as a dead letter while the tasks queued behind it keep theirs. Stop
//     releases what the run held.
type QueueStore interface {
	Store
	// BeginAttempt records the start of an attempt of t (t.Attempts as
	// stored); it fails, and the attempt must not run, when it cannot.
	BeginAttempt(ctx context.Context, t Task) (context.Context, Attempt, error)
	// Resume lists the queued tasks and adds one to the Attempts of each
	// whose attempt the last run began and did not end, in the list and in
	// the store. BeginAttempt works only after it.
	Resume(ctx context.Context) ([]Task, error)
	Stop(ctx context.Context) error
}

// Attempt commits the outcome of one attempt of a task (QueueStore.BeginAttempt).
// If neither Done nor Retry is called (a shutdown in the middle of the
// attempt) the task stays as it was.
type Attempt interface {
	// Done deletes the processed task id.
	Done(ctx context.Context, id string) error
	// Retry stores t, the task with its new attempt count and schedule.
	Retry(ctx context.Context, t Task) error
	// End forgets the attempt's start, last: it was settled, or a clean
	// stop interrupted it and it costs nothing. An attempt never ended (a
	// crash) is charged at the next Resume.
	End()
}
