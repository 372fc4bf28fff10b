package core

import (
	"context"
	"fmt"
	"time"
)

// Queue hands a claimed event to asynchronous processing. Enqueue returns
// only once the event is durably queued: the handler answers 202 right
// after, so an event held only in memory would be lost by a crash.
type Queue interface {
	Enqueue(ctx context.Context, ev *Event) error
}

// Task is a queued event: the verified body and who delivered it, plus the
// worker's bookkeeping. It is what a durable queue stores.
type Task struct {
	ID         string    `json:"id"` // delivery id
	Scheme     Scheme    `json:"scheme,omitempty"`
	Body       []byte    `json:"body"`
	EnqueuedAt time.Time `json:"enqueued_at"`
	Attempts   int       `json:"attempts,omitempty"` // attempts started
	NotBefore  time.Time `json:"not_before,omitempty"`
	LastError  string    `json:"last_error,omitempty"`
}

// NewTask queues ev as received.
func NewTask(ev *Event, now time.Time) Task {
	return Task{ID: ev.Delivery.ID, Scheme: ev.Delivery.Scheme, Body: ev.Raw, EnqueuedAt: now}
}

// Event parses the task's body again. The body was verified before it was
// queued; a body that does not parse can never succeed (ErrPermanent).
func (t Task) Event() (*Event, error) {
	ev, err := ParseEvent(t.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPermanent, err)
	}
	ev.Delivery = Delivery{ID: t.ID, Scheme: t.Scheme}
	return ev, nil
}

// TaskStore keeps queued tasks durably: PutTask (create or replace by ID)
// has written the task to stable storage when it returns.
type TaskStore interface {
	PutTask(ctx context.Context, t Task) error
	ListTasks(ctx context.Context) ([]Task, error)
	DeleteTask(ctx context.Context, id string) error
}
