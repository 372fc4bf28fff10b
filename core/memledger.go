package core

import (
	"context"
	"slices"
	"sync"
)

// MemoryLedger is a Ledger for one process (tests, IDEMPOTENCY_STORE=memory).
type MemoryLedger struct {
	mu   sync.Mutex
	jobs map[string]*Job
}

func NewMemoryLedger() *MemoryLedger { return &MemoryLedger{jobs: make(map[string]*Job)} }

func (m *MemoryLedger) UpdateJob(_ context.Context, id string, fn func(*Job) (*Job, error)) (*Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := m.jobs[id]
	next, err := fn(cur.Clone())
	if err != nil {
		return nil, err
	}
	if next == nil {
		return cur.Clone(), nil
	}
	next = next.Clone()
	next.ID = id
	m.jobs[id] = next
	return next.Clone(), nil
}

func (m *MemoryLedger) GetJob(_ context.Context, id string) (*Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.jobs[id].Clone(), nil
}

// ListJobs returns up to limit jobs, most recently first seen first (limit <= 0: all).
func (m *MemoryLedger) ListJobs(_ context.Context, limit int) ([]Job, error) {
	m.mu.Lock()
	out := make([]Job, 0, len(m.jobs))
	for _, j := range m.jobs {
		out = append(out, *j.Clone())
	}
	m.mu.Unlock()
	SortJobs(out)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// SortJobs orders jobs newest first (by first seen, then id), the order
// every ledger lists them in.
func SortJobs(jobs []Job) {
	slices.SortFunc(jobs, func(a, b Job) int {
		if c := b.FirstSeen.Compare(a.FirstSeen); c != 0 {
			return c
		}
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
}

var _ Ledger = (*MemoryLedger)(nil)
