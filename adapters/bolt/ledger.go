package bolt

import (
	"context"
	"encoding/json"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/geminiwebhooks/receiver/core/jobs"
)

var bucketJobs = []byte("jobs")

// Ledger keeps the job ledger in the store's bbolt file, so the local
// server remembers what it landed across restarts.
type Ledger struct {
	db *bbolt.DB
}

// NewLedger opens the ledger in db (the file of a Store: Store.DB()).
func NewLedger(db *bbolt.DB) (*Ledger, error) {
	err := db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketJobs)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("bolt ledger: %w", err)
	}
	return &Ledger{db: db}, nil
}

// UpdateJob runs fn inside one bbolt write transaction (grouped with
// concurrent ones by Batch, which may rerun fn: the core rules are pure).
// In an attempt of a queued task of the same file, the write of the
// attempt's first ledger call is held and commits with its next call or
// its outcome (see writes).
func (l *Ledger) UpdateJob(ctx context.Context, id string, fn func(*jobs.Job) (*jobs.Job, error)) (_ *jobs.Job, err error) {
	var held *heldJob
	if w := writesIn(ctx, l.db); w != nil {
		first, h := w.next()
		if first {
			return w.hold(id, fn)
		}
		held = h
		defer func() { w.restore(held, err) }()
	}
	var out *jobs.Job
	err = batch(ctx, l.db, func(tx *bbolt.Tx) error {
		if err := held.apply(tx); err != nil {
			return err
		}
		b := tx.Bucket(bucketJobs)
		cur, err := getJob(b, id)
		if err != nil {
			return err
		}
		next, err := fn(cur.Clone())
		if err != nil {
			return err
		}
		if next == nil {
			out = cur
			return nil
		}
		next.ID = id
		v, err := json.Marshal(next)
		if err != nil {
			return err
		}
		out = next.Clone()
		return b.Put([]byte(id), v)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GetJob returns job id; in an attempt of a queued task, once what the
// attempt holds is committed.
func (l *Ledger) GetJob(ctx context.Context, id string) (*jobs.Job, error) {
	if w := writesIn(ctx, l.db); w != nil {
		if _, h := w.next(); h != nil {
			if err := w.flush(ctx, h); err != nil {
				return nil, err
			}
		}
	}
	var j *jobs.Job
	err := l.db.View(func(tx *bbolt.Tx) error {
		var err error
		j, err = getJob(tx.Bucket(bucketJobs), id)
		return err
	})
	return j, err
}

// ListJobs returns up to limit jobs, newest first (limit <= 0: all).
func (l *Ledger) ListJobs(_ context.Context, limit int) ([]jobs.Job, error) {
	var out []jobs.Job
	err := l.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketJobs).ForEach(func(k, v []byte) error {
			var j jobs.Job
			if err := json.Unmarshal(v, &j); err != nil {
				return fmt.Errorf("job %q: %w", k, err)
			}
			out = append(out, j)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	jobs.SortJobs(out)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func getJob(b *bbolt.Bucket, id string) (*jobs.Job, error) {
	v := b.Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	return decodeJob(id, v)
}

var _ jobs.Ledger = (*Ledger)(nil)
