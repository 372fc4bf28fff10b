package tasks

import (
	"context"
	"slices"
	"strings"
	"sync"
)

// MemoryStore is a Store for one process (tests). It is not durable:
// the local server uses the bbolt one.
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

var _ Store = (*MemoryStore)(nil)
