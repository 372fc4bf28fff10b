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
	NotBefore  time.Time   `json:"not_before,omitzero"`
	LastError  string      `json:"last_error,omitempty"`
}

// NewTask queues ev as received.
func NewTask(ev *core.Event, now time.Time) Task {
	return Task{ID: ev.Delivery.ID, Scheme: ev.Delivery.Scheme, Body: ev.Raw, EnqueuedAt: now}
}

// Event parses the task's body again. The body was verified before it was
// queued; a body that does not parse can never succeed (ErrPermanent).
func (t Task) Event() (*core.Event, error) {
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
