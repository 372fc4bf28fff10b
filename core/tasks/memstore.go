package tasks

import (
	"context"
	"slices"
	"strings"
	"sync"
)

// MemoryStore is a QueueStore for one process (tests). It is not durable:
// the local server uses the bbolt one. Nothing outlives the process, so it
// records no attempt, and Resume charges none.
type MemoryStore struct {
	mu    sync.Mutex
	tasks map[string]Task
}

// NewMemoryStore returns an empty store (tests and embedders: it keeps nothing across a restart).
func NewMemoryStore() *MemoryStore { return &MemoryStore{tasks: make(map[string]Task)} }

func (m *MemoryStore) PutTask(_ context.Context, t Task) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	t.Body = slices.Clone(t.Body)
	m.tasks[t.ID] = t
	return nil
}

// ListTasks returns the tasks in id order.
func (m *MemoryStore) ListTasks(context.Context) ([]Task, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Task, 0, len(m.tasks))
	for _, t := range m.tasks {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b Task) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (m *MemoryStore) DeleteTask(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.tasks, id)
	return nil
}

// BeginAttempt returns ctx and an Attempt that deletes or stores the task.
func (m *MemoryStore) BeginAttempt(ctx context.Context, _ Task) (context.Context, Attempt, error) {
	return ctx, memoryAttempt{m}, nil
}

// Resume lists the tasks: none was interrupted by a crash that this store outlived.
func (m *MemoryStore) Resume(ctx context.Context) ([]Task, error) { return m.ListTasks(ctx) }

// Stop does nothing.
func (m *MemoryStore) Stop(context.Context) error { return nil }

type memoryAttempt struct{ m *MemoryStore }

func (a memoryAttempt) Done(ctx context.Context, id string) error { return a.m.DeleteTask(ctx, id) }
func (a memoryAttempt) Retry(ctx context.Context, t Task) error   { return a.m.PutTask(ctx, t) }
func (memoryAttempt) End()                                        {}

var _ QueueStore = (*MemoryStore)(nil)
