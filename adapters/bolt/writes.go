package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"

	bbolt "go.etcd.io/bbolt"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

// writes is the core.Writes of one attempt of a queued task: the ledger
// writes its processing made, held until they commit with the task's
// outcome (Tasks.BeginAttempt) or a Flush. Each job keeps the bytes the
// attempt first read of it, and the commit fails with core.ErrWriteConflict
// if another writer changed them since: the attempt runs again, on the new
// record, instead of overwriting it.
type writes struct {
	db *bbolt.DB

	mu   sync.Mutex
	jobs map[string]*pendingJob
}

type pendingJob struct {
	base  []byte    // the committed bytes when first read (nil: absent)
	job   *jobs.Job // the value the attempt sees
	value []byte    // what to write; nil until the attempt writes the job
}

func newWrites(db *bbolt.DB) *writes {
	return &writes{db: db, jobs: make(map[string]*pendingJob)}
}

// writesIn returns the writes of db that ctx carries, nil when none: the
// ledger then writes at once.
func writesIn(ctx context.Context, db *bbolt.DB) *writes {
	w, ok := core.WritesOf(ctx).(*writes)
	if !ok || w.db != db {
		return nil
	}
	return w
}

// get returns job id as the attempt sees it (w.mu held): its own write, or
// the committed record, remembered as the base of a later write.
func (w *writes) get(id string) (*pendingJob, error) {
	if p, ok := w.jobs[id]; ok {
		return p, nil
	}
	p := &pendingJob{}
	err := w.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketJobs).Get([]byte(id))
		if v == nil {
			return nil
		}
		p.base = bytes.Clone(v) // v lives only as long as tx
		var j jobs.Job
		if err := json.Unmarshal(v, &j); err != nil {
			return fmt.Errorf("job %q: %w", id, err)
		}
		p.job = &j
		return nil
	})
	if err != nil {
		return nil, err
	}
	w.jobs[id] = p
	return p, nil
}

// updateJob is Ledger.UpdateJob on the attempt's view: fn runs once, on
// the job as the attempt sees it, and its result is held for the commit.
func (w *writes) updateJob(id string, fn func(*jobs.Job) (*jobs.Job, error)) (*jobs.Job, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	p, err := w.get(id)
	if err != nil {
		return nil, err
	}
	next, err := fn(p.job.Clone())
	if err != nil {
		return nil, err
	}
	if next == nil {
		return p.job.Clone(), nil
	}
	next.ID = id
	v, err := json.Marshal(next)
	if err != nil {
		return nil, err
	}
	p.job, p.value = next.Clone(), v
	return next, nil
}

// getJob is Ledger.GetJob on the attempt's view.
func (w *writes) getJob(id string) (*jobs.Job, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	p, err := w.get(id)
	if err != nil {
		return nil, err
	}
	return p.job.Clone(), nil
}

// commit runs with in one grouped transaction after writing what is held,
// and then forgets it (the attempt reads the committed records again).
// Batch may run the transaction more than once: it changes nothing of w.
func (w *writes) commit(ctx context.Context, with func(*bbolt.Tx) error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if with == nil && !w.dirty() {
		return nil
	}
	err := batch(ctx, w.db, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketJobs)
		for id, p := range w.jobs {
			if p.value == nil {
				continue
			}
			if !bytes.Equal(b.Get([]byte(id)), p.base) {
				return fmt.Errorf("job %q: %w", id, core.ErrWriteConflict)
			}
			if err := b.Put([]byte(id), p.value); err != nil {
				return err
			}
		}
		if with == nil {
			return nil
		}
		return with(tx)
	})
	if err != nil {
		return err
	}
	clear(w.jobs)
	return nil
}

// dirty reports whether the attempt wrote a job (w.mu held).
func (w *writes) dirty() bool {
	for _, p := range w.jobs {
		if p.value != nil {
			return true
		}
	}
	return false
}

// Flush commits the held writes (core.Writes).
func (w *writes) Flush(ctx context.Context) error {
	if err := w.commit(ctx, nil); err != nil {
		return fmt.Errorf("bolt ledger: %w", err)
	}
	return nil
}

var _ core.Writes = (*writes)(nil)
