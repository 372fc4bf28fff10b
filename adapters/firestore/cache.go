package firestore

import (
	"container/list"
	"sync"
	"time"
)

// hints remembers, per process, what it learnt about recent delivery ids,
// to save round trips. A completed entry answers a duplicate with no round
// trip at all. It is sound because a completed record cannot change before
// its expireAt: no claim may take it over, and Complete and Release act only
// on in-progress records. A busy entry (the id was in progress elsewhere)
// says the next delivery of that id is most likely a duplicate, so Claim
// reads first: one round trip instead of a failed Create and a read.
// Entries are dropped after a short time too, so that an operator who
// deletes a record by hand (to force a replay) is heard within minutes.
type hints struct {
	mu  sync.Mutex
	max int
	ttl time.Duration
	ll  *list.List // front: most recently used
	m   map[string]*list.Element
}

type hint struct {
	key       string
	completed bool     // false: busy
	hash      [32]byte // completed: the body hash of the record
	until     time.Time
}

func newHints(max int, ttl time.Duration) *hints {
	if max <= 0 {
		return nil
	}
	return &hints{max: max, ttl: ttl, ll: list.New(), m: make(map[string]*list.Element)}
}

// get returns the live hint for key at now.
func (c *hints) get(key string, now time.Time) (hint, bool) {
	if c == nil {
		return hint{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok {
		return hint{}, false
	}
	h := e.Value.(*hint)
	if !h.until.After(now) {
		c.ll.Remove(e)
		delete(c.m, key)
		return hint{}, false
	}
	c.ll.MoveToFront(e)
	return *h, true
}

// completed records that key completed with hash and stays so until expireAt.
func (c *hints) completed(key string, hash [32]byte, now, expireAt time.Time) {
	c.put(hint{key: key, completed: true, hash: hash, until: expireAt}, now)
}

// busy records that key was in progress elsewhere.
func (c *hints) busy(key string, now time.Time) {
	if c == nil {
		return
	}
	c.put(hint{key: key, until: now.Add(c.ttl)}, now)
}

func (c *hints) put(h hint, now time.Time) {
	if c == nil {
		return
	}
	if lim := now.Add(c.ttl); h.until.After(lim) {
		h.until = lim
	}
	if !h.until.After(now) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[h.key]; ok {
		*e.Value.(*hint) = h
		c.ll.MoveToFront(e)
		return
	}
	c.m[h.key] = c.ll.PushFront(&h)
	for c.ll.Len() > c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.m, last.Value.(*hint).key)
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
