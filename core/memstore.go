package core

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// DefaultMemoryStoreLimit bounds a MemoryStore's records.
const DefaultMemoryStoreLimit = 100_000

// MemoryStore is a Store for one process (tests, single-instance runs). It is
// bounded: expired records are swept in expiry order, and when every slot is
// held by a live record a new claim fails with ErrStoreFull (503, Gemini
// retries) rather than forgetting a key and processing a delivery twice.
type MemoryStore struct {
	mu      sync.Mutex
	limit   int
	records map[string]*Record
	expiry  *list.List // of expiryMark, appended in time order per state change
	dead    []DeadLetter
}

type expiryMark struct {
	key string
	at  time.Time
}

// NewMemoryStore makes a store holding at most limit records (0: the default).
func NewMemoryStore(limit int) *MemoryStore {
	if limit <= 0 {
		limit = DefaultMemoryStoreLimit
	}
	return &MemoryStore{limit: limit, records: make(map[string]*Record), expiry: list.New()}
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

// Len is the number of records held, expired ones not yet swept included.
func (m *MemoryStore) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.records)
}

func (m *MemoryStore) mark(key string, at time.Time) {
	m.expiry.PushBack(expiryMark{key: key, at: at})
}

// sweep drops expired records from the front of the mark list. Marks are
// appended as states change; a mark whose time no longer matches its record
// is stale. A live, unexpired front mark stops the sweep, which keeps each
// call cheap; fullSweep catches what it leaves behind when room runs out.
func (m *MemoryStore) sweep(now time.Time) {
	for e := m.expiry.Front(); e != nil; e = m.expiry.Front() {
		mk := e.Value.(expiryMark)
		rec, ok := m.records[mk.key]
		live := ok && rec.ExpireAt.Equal(mk.at)
		if live && mk.at.After(now) {
			break
		}
		m.expiry.Remove(e)
		if live {
			delete(m.records, mk.key)
		}
	}
	if m.expiry.Len() > 2*m.limit || len(m.records) >= m.limit {
		m.fullSweep(now)
	}
}

// fullSweep drops every expired record and stale mark: O(n), and only when
// the store is full or its marks have doubled, so amortised O(1) per claim.
func (m *MemoryStore) fullSweep(now time.Time) {
	for e := m.expiry.Front(); e != nil; {
		next := e.Next()
		mk := e.Value.(expiryMark)
		rec, ok := m.records[mk.key]
		if !ok || !rec.ExpireAt.Equal(mk.at) {
			m.expiry.Remove(e)
		} else if !rec.ExpireAt.After(now) {
			m.expiry.Remove(e)
			delete(m.records, mk.key)
		}
		e = next
	}
}
