package jobs

import (
	"context"
	"slices"
	"sync"

	"github.com/geminiwebhooks/receiver/core"
)

// MemoryLedger is a Ledger for one process (tests, IDEMPOTENCY_STORE=memory).
// Like MemoryStore it is bounded: past its limit the oldest finished job is
// forgotten, and when every job still has work pending a new one is refused
// with ErrStoreFull rather than dropping work.
type MemoryLedger struct {
	mu    sync.Mutex
	limit int
	jobs  map[string]*Job
	order []string // ids, oldest first
}

// NewMemoryLedger keeps at most limit jobs (0: DefaultMemoryStoreLimit).
func NewMemoryLedger(limit int) *MemoryLedger {
	if limit <= 0 {
		limit = core.DefaultMemoryStoreLimit
	}
	return &MemoryLedger{limit: limit, jobs: make(map[string]*Job)}
}

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
	if cur == nil {
		if len(m.jobs) >= m.limit && !m.evictOne() {
			return nil, core.ErrStoreFull
		}
		m.order = append(m.order, id)
	}
	// fn's result is the caller's (fn worked on a copy): the ledger keeps
	// a copy of its own and hands the result back as it is.
	next.ID = id
	m.jobs[id] = next.Clone()
	return next, nil
}

// evictOne forgets the oldest job with nothing left to do.
func (m *MemoryLedger) evictOne() bool {
	for i, id := range m.order {
		j := m.jobs[id]
		if j != nil && (!j.State.Terminal() || j.Landing == LandingPending || j.Landing == LandingActive) {
			continue
		}
		delete(m.jobs, id)
		m.order = append(m.order[:i], m.order[i+1:]...)
		return true
	}
	return false
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
