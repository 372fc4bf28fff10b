package core

import (
	"container/heap"
	"context"
	"sync"
	"time"
	"unique"
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
	records map[string]memRecord
	expiry  expiryHeap // one mark per state change; stale marks are skipped
	dead    []DeadLetter
}

// memRecord is a Record as the memory store holds it, about a third of its
// size (BenchmarkMemoryStoreBytesPerRecord): held in the map itself, times
// as Unix nanoseconds, the event type interned, the owner dropped once the
// claim is completed (no one may act on it then).
type memRecord struct {
	hash                  [32]byte
	expireAt, leaseUntil  int64
	firstSeen, finishedAt int64
	owner                 string
	eventType             unique.Handle[string]
	completed             bool
}

func toMem(r *Record) memRecord {
	m := memRecord{hash: r.BodyHash, expireAt: r.ExpireAt.UnixNano(), leaseUntil: r.LeaseUntil.UnixNano(),
		firstSeen: r.FirstSeen.UnixNano(), finishedAt: unixNano(r.FinishedAt), owner: r.Owner,
		eventType: unique.Make(r.EventType), completed: r.State == StateCompleted}
	if m.completed {
		m.owner = ""
	}
	return m
}

func (m memRecord) record() *Record {
	r := &Record{State: StateInProgress, Owner: m.owner, BodyHash: m.hash, EventType: m.eventType.Value(),
		LeaseUntil: time.Unix(0, m.leaseUntil), FirstSeen: time.Unix(0, m.firstSeen), ExpireAt: time.Unix(0, m.expireAt)}
	if m.completed {
		r.State = StateCompleted
	}
	if m.finishedAt != 0 {
		r.FinishedAt = time.Unix(0, m.finishedAt)
	}
	return r
}

// unixNano is t in Unix nanoseconds, 0 for the zero time.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
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
	return &MemoryStore{limit: limit, records: make(map[string]memRecord)}
}

func (m *MemoryStore) Claim(_ context.Context, c Claim) (ClaimResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(c.Now)
	var existing *Record
	held, ok := m.records[c.Key]
	if ok {
		existing = held.record()
	}
	res, rec := Decide(existing, c)
	if rec == nil {
		return res, nil
	}
	if !ok && len(m.records) >= m.limit {
		return 0, ErrStoreFull
	}
	m.records[c.Key] = toMem(rec)
	m.mark(c.Key, rec.ExpireAt)
	return res, nil
}

func (m *MemoryStore) Complete(_ context.Context, c Claim, keepUntil time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.records[c.Key]
	if !ok || rec.completed || rec.owner != c.Owner {
		return ErrNotOwner
	}
	now := time.Now()
	if !c.Now.IsZero() {
		now = c.Now
	}
	rec.completed, rec.owner = true, ""
	rec.finishedAt = now.UnixNano()
	rec.expireAt = keepUntil.UnixNano()
	m.records[c.Key] = rec
	m.mark(c.Key, keepUntil)
	return nil
}

func (m *MemoryStore) Release(_ context.Context, c Claim) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.records[c.Key]
	if !ok || rec.completed || rec.owner != c.Owner {
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
	return *rec.record(), true
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
		if rec, ok := m.records[mk.key]; ok && rec.expireAt == mk.at {
			delete(m.records, mk.key)
		}
	}
}

// compact rebuilds the heap with one mark per record.
func (m *MemoryStore) compact() {
	h := make(expiryHeap, 0, len(m.records))
	for k, rec := range m.records {
		h = append(h, expiryMark{key: k, at: rec.expireAt})
	}
	heap.Init(&h)
	m.expiry = h
}
