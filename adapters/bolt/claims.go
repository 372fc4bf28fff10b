package bolt

import (
	"context"
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/geminiwebhooks/receiver/core"
)

// A receive on the file store is one commit: the claim is taken in memory
// (the file's lock keeps every other process out, so memory is where a
// claim is exclusive), the queued task is written with the claim already
// completed, and the Complete that follows finds nothing left to write.
// Where no task follows (inline processing, a dead letter) Complete writes
// the completed record; Release forgets the claim. A crash before the task
// is written leaves nothing behind: Gemini's retry is a new delivery, as
// after a released claim.

// file is what the Store, Tasks and Ledger of one bbolt file share in
// memory.
type file struct {
	ttl atomic.Int64 // how long a claim that a task completes is kept (KeepFor)

	mu     sync.Mutex
	claims map[string]*heldClaim // by delivery id
	taken  int                   // claims taken since the last prune
}

// pruneEvery is how many claims are taken between two prunes of the held
// claims whose lease ended without a Complete or Release (one that could
// not be written): what the file has of them is what holds.
const pruneEvery = 4096

// heldClaim is a claim taken and not yet forgotten. queued: its task was
// written, with the claim completed until keepUntil.
type heldClaim struct {
	c         core.Claim
	rec       *core.Record
	queued    bool
	keepUntil time.Time
}

var files sync.Map // *bbolt.DB → *file

// fileOf returns db's shared state.
func fileOf(db *bbolt.DB) *file {
	if f, ok := files.Load(db); ok {
		return f.(*file)
	}
	f := &file{claims: make(map[string]*heldClaim)}
	f.ttl.Store(int64(core.DefaultTTL))
	v, _ := files.LoadOrStore(db, f)
	return v.(*file)
}

// claim applies the claim rules to c against the claim held in memory, or
// else the file's record, and holds c when it wins.
func (f *file) claim(db *bbolt.DB, c core.Claim) (core.ClaimResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var existing *core.Record
	if h, ok := f.claims[c.Key]; ok {
		existing = h.rec
	} else if err := db.View(func(tx *bbolt.Tx) error {
		var err error
		existing, err = getRecord(tx.Bucket(bucketDeliveries), c.Key)
		return err
	}); err != nil {
		return 0, err
	}
	verdict, rec := core.Decide(existing, c)
	if rec != nil {
		f.claims[c.Key] = &heldClaim{c: c, rec: rec}
		if f.taken++; f.taken >= pruneEvery {
			f.taken = 0
			for k, h := range f.claims {
				if !h.c.LeaseUntil.After(c.Now) {
					delete(f.claims, k)
				}
			}
		}
	}
	return verdict, nil
}

// owned returns the claim c's owner holds in memory, and a copy of it read
// under the lock; nil when none.
func (f *file) owned(c core.Claim) (*heldClaim, heldClaim) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if h := f.claims[c.Key]; h != nil && h.c.Owner == c.Owner {
		return h, *h
	}
	return nil, heldClaim{}
}

// forget drops h, if it is still the claim held for its key.
func (f *file) forget(h *heldClaim) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.claims[h.c.Key] == h {
		delete(f.claims, h.c.Key)
	}
}

// toQueue returns the claim held for the delivery that task id carries with
// body, which its task completes, and a copy of it; nil when none is.
func (f *file) toQueue(id string, body []byte, now time.Time) (*heldClaim, heldClaim) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := f.claims[id]
	if h == nil || h.queued || h.c.BodyHash != sha256.Sum256(body) || !h.rec.ExpireAt.After(now) {
		return nil, heldClaim{}
	}
	return h, *h
}

// queued marks h completed until keepUntil by its task's commit: a claim of
// the same delivery is now a duplicate.
func (f *file) queued(h *heldClaim, rec *core.Record, keepUntil time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h.queued, h.rec, h.keepUntil = true, rec, keepUntil
}

// batchOrNothing runs fn in a grouped write; when ctx ends first, fn writes
// nothing if it has not started (a write that would land after the caller
// gave up never lands), and otherwise its commit is waited for.
func batchOrNothing(ctx context.Context, db *bbolt.DB, fn func(*bbolt.Tx) error) error {
	const waiting, writing, abandoned = 0, 1, 2
	var state atomic.Int32
	writeTxs.Add(1)
	done := make(chan error, 1)
	go func() {
		done <- db.Batch(func(tx *bbolt.Tx) error {
			if !state.CompareAndSwap(waiting, writing) && state.Load() != writing {
				return nil // abandoned
			}
			return fn(tx)
		})
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		if state.CompareAndSwap(waiting, abandoned) {
			return ctx.Err()
		}
		return <-done
	}
}
