package firestore

import (
	"container/list"
	"sync"
	"time"
)

// doneCache remembers deliveries this process saw completed, so a duplicate
// arriving at the same instance is answered without a round trip. It is
// sound because a completed record cannot change before its expireAt: no
// claim may take it over, and Complete and Release act only on in-progress
// records. Entries are also dropped after a short time so that an operator
// who deletes a record by hand (to force a replay) is heard within minutes.
type doneCache struct {
	mu  sync.Mutex
	max int
	ttl time.Duration
	ll  *list.List // front: most recently used
	m   map[string]*list.Element
}

type doneEntry struct {
	key   string
	hash  [32]byte
	until time.Time
}

func newDoneCache(max int, ttl time.Duration) *doneCache {
	if max <= 0 {
		return nil
	}
	return &doneCache{max: max, ttl: ttl, ll: list.New(), m: make(map[string]*list.Element)}
}

// get returns the completed body hash for key while the entry is live at now.
func (c *doneCache) get(key string, now time.Time) ([32]byte, bool) {
	if c == nil {
		return [32]byte{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok {
		return [32]byte{}, false
	}
	ent := e.Value.(*doneEntry)
	if !ent.until.After(now) {
		c.ll.Remove(e)
		delete(c.m, key)
		return [32]byte{}, false
	}
	c.ll.MoveToFront(e)
	return ent.hash, true
}

// put records that key completed with hash and stays so until expireAt.
func (c *doneCache) put(key string, hash [32]byte, now, expireAt time.Time) {
	if c == nil {
		return
	}
	until := now.Add(c.ttl)
	if expireAt.Before(until) {
		until = expireAt
	}
	if !until.After(now) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[key]; ok {
		*e.Value.(*doneEntry) = doneEntry{key: key, hash: hash, until: until}
		c.ll.MoveToFront(e)
		return
	}
	c.m[key] = c.ll.PushFront(&doneEntry{key: key, hash: hash, until: until})
	for c.ll.Len() > c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.m, last.Value.(*doneEntry).key)
	}
}

// heldClaims maps a claim this process won to the update time of its write,
// so Complete and Release can be a single write with an update_time
// precondition: it succeeds only if nobody touched the document since we
// claimed it, which proves we still own it. A missing entry only costs the
// read-check-write path, so entries may be dropped at any time.
type heldClaims struct {
	mu sync.Mutex
	m  map[heldKey]held
}

type heldKey struct{ key, owner string }

type held struct {
	updateTime time.Time
	leaseUntil time.Time
}

// maxHeld bounds the map; the handler completes or releases every claim it
// wins, so it only fills if calls are abandoned.
const maxHeld = 4096

func (h *heldClaims) put(key, owner string, updateTime, leaseUntil, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = make(map[heldKey]held)
	}
	if len(h.m) >= maxHeld {
		for k, v := range h.m {
			if !v.leaseUntil.After(now) {
				delete(h.m, k)
			}
		}
		if len(h.m) >= maxHeld {
			return
		}
	}
	h.m[heldKey{key, owner}] = held{updateTime: updateTime, leaseUntil: leaseUntil}
}

func (h *heldClaims) take(key, owner string) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := heldKey{key, owner}
	v, ok := h.m[k]
	if ok {
		delete(h.m, k)
	}
	return v.updateTime, ok
}
