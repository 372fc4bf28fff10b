package core

import (
	"context"
	"slices"
	"strings"
	"sync"
)

// MemoryTasks is a TaskStore for one process (tests). It is not durable:
// the local server uses the bbolt one.
type MemoryTasks struct {
	mu    sync.Mutex
	tasks map[string]Task
}

func NewMemoryTasks() *MemoryTasks { return &MemoryTasks{tasks: make(map[string]Task)} }

func (m *MemoryTasks) PutTask(_ context.Context, t Task) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	t.Body = slices.Clone(t.Body)
	m.tasks[t.ID] = t
	return nil
}

// ListTasks returns the tasks in id order.
func (m *MemoryTasks) ListTasks(context.Context) ([]Task, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Task, 0, len(m.tasks))
	for _, t := range m.tasks {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b Task) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (m *MemoryTasks) DeleteTask(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.tasks, id)
	return nil
}

var _ TaskStore = (*MemoryTasks)(nil)
