package bolt

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/geminiwebhooks/receiver/core"
)

var (
	bucketDeliveries  = []byte("deliveries")
	bucketDeadLetters = []byte("dead_letters")
)

// Store implements core.Store and core.DeadLetters on a bbolt file. Writes go
// through bbolt's Batch, which groups concurrent transactions into one fsync,
// so durability does not cap throughput. A claim is held in memory until it
// completes (the file's lock keeps other processes out); with the Tasks of
// the same file a queued delivery's claim completes in its task's commit,
// so that a receive is one commit.
type Store struct {
	db *bbolt.DB
	f  *file
}

// Open opens (or creates) the file at path.
func Open(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("bolt store: %w", err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("bolt store %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketDeliveries, bucketDeadLetters} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("bolt store %s: %w", path, err)
	}
	db.MaxBatchDelay = 2 * time.Millisecond // bbolt waits 10 ms by default; 2 ms still groups a busy second
	return &Store{db: db, f: fileOf(db)}, nil
}

// KeepFor sets how long the record of a completed claim is kept: the
// receiver's TTL (core.DefaultTTL unless set). A queued delivery's claim is
// completed for that long in its task's commit; a Complete asking for
// another time costs a commit of its own. ttl <= 0 means core.DefaultTTL.
func (s *Store) KeepFor(ttl time.Duration) {
	if ttl <= 0 {
		ttl = core.DefaultTTL
	}
	s.f.ttl.Store(int64(ttl))
}

// DB exposes the file to other local ledgers that share it.
func (s *Store) DB() *bbolt.DB { return s.db }

func (s *Store) Close() error {
	files.Delete(s.db)
	return s.db.Close()
}

// Claim takes c in memory (see Store): it writes nothing.
func (s *Store) Claim(_ context.Context, c core.Claim) (core.ClaimResult, error) {
	verdict, err := s.f.claim(s.db, c)
	if err != nil {
		return 0, fmt.Errorf("bolt claim: %w", err)
	}
	return verdict, nil
}

// Complete writes c's record completed until keepUntil, unless its queued
// task's commit did already.
func (s *Store) Complete(ctx context.Context, c core.Claim, keepUntil time.Time) error {
	h, held := s.f.owned(c)
	if h == nil {
		// A claim an older version of this store wrote to the file.
		return s.owned(ctx, c, func(b *bbolt.Bucket, rec *core.Record) error {
			return putRecord(b, c.Key, completed(rec, c.Now, keepUntil))
		})
	}
	if held.queued && held.keepUntil.Equal(keepUntil) {
		s.f.forget(h)
		return nil
	}
	rec := *held.rec
	err := s.batch(ctx, func(tx *bbolt.Tx) error {
		r := rec
		return putRecord(tx.Bucket(bucketDeliveries), c.Key, completed(&r, c.Now, keepUntil))
	})
	if err != nil {
		return fmt.Errorf("bolt complete: %w", err)
	}
	s.f.forget(h)
	return nil
}

// completed is rec finished at now and kept until keepUntil.
func completed(rec *core.Record, now, keepUntil time.Time) *core.Record {
	rec.State = core.StateCompleted
	rec.FinishedAt = now
	rec.ExpireAt = keepUntil
	return rec
}

// Release forgets c (a claim whose task was written stays completed: its
// task runs).
func (s *Store) Release(ctx context.Context, c core.Claim) error {
	if h, _ := s.f.owned(c); h != nil {
		s.f.forget(h)
		return nil
	}
	return s.owned(ctx, c, func(b *bbolt.Bucket, _ *core.Record) error {
		return b.Delete([]byte(c.Key))
	})
}

// owned runs fn only when c's owner holds the in-progress record in the
// file.
func (s *Store) owned(ctx context.Context, c core.Claim, fn func(*bbolt.Bucket, *core.Record) error) error {
	return s.batch(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketDeliveries)
		rec, err := getRecord(b, c.Key)
		if err != nil {
			return err
		}
		if rec == nil || rec.State != core.StateInProgress || rec.Owner != c.Owner {
			return core.ErrNotOwner
		}
		return fn(b, rec)
	})
}

// Get returns the record for key, for tests and the admin view.
func (s *Store) Get(key string) (*core.Record, error) {
	var rec *core.Record
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		rec, err = getRecord(tx.Bucket(bucketDeliveries), key)
		return err
	})
	return rec, err
}

// Sweep deletes records that expired before now; the local server runs it
// periodically so the file does not grow without bound.
func (s *Store) Sweep(now time.Time) (int, error) {
	n := 0
	err := update(s.db, func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketDeliveries).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var rec core.Record
			if json.Unmarshal(v, &rec) == nil && rec.ExpireAt.After(now) {
				continue
			}
			if err := c.Delete(); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

func (s *Store) PutDeadLetter(ctx context.Context, d core.DeadLetter) error {
	v, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return s.batch(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketDeadLetters).Put([]byte(d.Key), v)
	})
}

func (s *Store) ListDeadLetters(_ context.Context, limit int) ([]core.DeadLetter, error) {
	var out []core.DeadLetter
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketDeadLetters).ForEach(func(_, v []byte) error {
			if limit > 0 && len(out) >= limit {
				return nil
			}
			var d core.DeadLetter
			if err := json.Unmarshal(v, &d); err != nil {
				return err
			}
			out = append(out, d)
			return nil
		})
	})
	return out, err
}

func (s *Store) DeleteDeadLetter(ctx context.Context, key string) error {
	return s.batch(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketDeadLetters).Delete([]byte(key))
	})
}

func (s *Store) batch(ctx context.Context, fn func(*bbolt.Tx) error) error {
	return batch(ctx, s.db, fn)
}

// writeTxs counts the write transactions asked of bbolt (grouped or not
// into commits by Batch): the benchmark of a delivery's cost reads it.
var writeTxs atomic.Int64

// batch runs fn in a grouped write, giving up when ctx ends (the write may
// still land; callers treat that like any store outage).
func batch(ctx context.Context, db *bbolt.DB, fn func(*bbolt.Tx) error) error {
	writeTxs.Add(1)
	done := make(chan error, 1)
	go func() { done <- db.Batch(fn) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// update runs fn in a write transaction of its own (start-up, maintenance).
func update(db *bbolt.DB, fn func(*bbolt.Tx) error) error {
	writeTxs.Add(1)
	return db.Update(fn)
}

func getRecord(b *bbolt.Bucket, key string) (*core.Record, error) {
	v := b.Get([]byte(key))
	if v == nil {
		return nil, nil
	}
	var rec core.Record
	if err := json.Unmarshal(v, &rec); err != nil {
		return nil, fmt.Errorf("record %q: %w", key, err)
	}
	return &rec, nil
}

func putRecord(b *bbolt.Bucket, key string, rec *core.Record) error {
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), v)
}

var _ core.Store = (*Store)(nil)
var _ core.DeadLetters = (*Store)(nil)
