package core

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// DefaultMemoryStoreLimit bounds a MemoryStore's records.
const DefaultMemoryStoreLimit = 100_000

// MemoryStore is a Store for one process (tests, single-instance runs). It is
// bounded by a limit of records. Full means: limit records are live (in
// progress within their lease, or completed within IDEMPOTENCY_TTL). Then a
// claim of a new id fails with ErrStoreFull (503, Gemini retries) rather
// than forgetting a live key and processing a delivery twice; duplicates of
// live keys are still answered. Room comes back as the earliest records
// expire, so size the limit above the deliveries expected within the TTL.
//
// Expiries are kept in a min-heap, so a claim only ever looks at the records
// that can have expired: O(log n) per claim, full or not.
type MemoryStore struct {
	mu      sync.Mutex
	limit   int
	records map[string]*Record
	expiry  expiryHeap // one mark per state change; stale marks are skipped
	dead    []DeadLetter
}

// expiryMark is a record's expiry when it was marked, in Unix nanoseconds
// (an integer compares faster than a time.Time, and heaps compare a lot).
type expiryMark struct {
	key string
	at  int64
}

// expiryHeap orders marks by time, earliest first.
type expiryHeap []expiryMark

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiryMark)) }
func (h *expiryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// NewMemoryStore makes a store holding at most limit records (0: the default).
func NewMemoryStore(limit int) *MemoryStore {
	if limit <= 0 {
		limit = DefaultMemoryStoreLimit
	}
	return &MemoryStore{limit: limit, records: make(map[string]*Record)}
}

func (m *MemoryStore) Claim(_ context.Context, c Claim) (ClaimResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(c.Now)
	existing := m.records[c.Key]
	res, rec := Decide(existing, c)
	if rec == nil {
		return res, nil
	}
	if existing == nil && len(m.records) >= m.limit {
		return 0, ErrStoreFull
	}
	m.records[c.Key] = rec
	m.mark(c.Key, rec.ExpireAt)
	return res, nil
}

func (m *MemoryStore) Complete(_ context.Context, c Claim, keepUntil time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec := m.records[c.Key]
	if rec == nil || rec.State != StateInProgress || rec.Owner != c.Owner {
		return ErrNotOwner
	}
	now := time.Now()
	if !c.Now.IsZero() {
		now = c.Now
	}
	rec.State = StateCompleted
	rec.FinishedAt = now
	rec.ExpireAt = keepUntil
	m.mark(c.Key, keepUntil)
	return nil
}

func (m *MemoryStore) Release(_ context.Context, c Claim) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec := m.records[c.Key]
	if rec == nil || rec.State != StateInProgress || rec.Owner != c.Owner {
		return ErrNotOwner
	}
	delete(m.records, c.Key)
	return nil
}

// Get returns a copy of the record for key, for tests and the admin view.
func (m *MemoryStore) Get(key string) (Record, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.records[key]
	if !ok {
		return Record{}, false
	}
	return *rec, true
}

// Len is the number of records held; records expired since the last claim
// are swept by the next one.
func (m *MemoryStore) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.records)
}

func (m *MemoryStore) mark(key string, at time.Time) {
	heap.Push(&m.expiry, expiryMark{key: key, at: at.UnixNano()})
	// Every state change leaves a mark; once stale ones outnumber the
	// records, rebuild from the records: O(n) after at least n pushes.
	if len(m.expiry) > 2*len(m.records)+64 {
		m.compact()
	}
}

// sweep drops the records that have expired by now, earliest first, and
// stops at the first mark still in the future: a claim never walks live
// records. A mark whose time no longer matches its record is stale.
func (m *MemoryStore) sweep(now time.Time) {
	n := now.UnixNano()
	for len(m.expiry) > 0 && m.expiry[0].at <= n {
		mk := heap.Pop(&m.expiry).(expiryMark)
		if rec, ok := m.records[mk.key]; ok && rec.ExpireAt.UnixNano() == mk.at {
			delete(m.records, mk.key)
		}
	}
}

// compact rebuilds the heap with one mark per record.
func (m *MemoryStore) compact() {
	h := make(expiryHeap, 0, len(m.records))
	for k, rec := range m.records {
		h = append(h, expiryMark{key: k, at: rec.ExpireAt.UnixNano()})
	}
	heap.Init(&h)
	m.expiry = h
}
