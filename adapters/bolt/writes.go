package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

// writes is what one attempt of a queued task (Tasks.BeginAttempt) writes
// to the Ledger of its file. The write of the attempt's first ledger call,
// the event's record, is held: it commits with the attempt's next ledger
// call, or with its outcome (the task's deletion or reschedule), so that an
// event that only records itself (most do) costs one commit to process.
// Every later call writes at once, in the same commit as what is held: a
// step that guards an effect outside the ledger is durable before the
// effect (see jobs.Ledger). The held write keeps the bytes its job had
// when read; if another writer changed them since, it is dropped and the
// attempt runs again on the new record, free (core.RetryLaterError).
type writes struct {
	db *bbolt.DB

	mu    sync.Mutex
	calls int
	held  *heldJob
}

// heldJob is a job's write held for the attempt's next commit.
type heldJob struct {
	id    string
	base  []byte // the committed bytes when read (nil: absent)
	value []byte // what to write
}

type writesKey struct{}

// writesIn returns the writes of db's attempt that ctx carries, nil when
// none: the ledger then writes at once.
func writesIn(ctx context.Context, db *bbolt.DB) *writes {
	w, ok := ctx.Value(writesKey{}).(*writes)
	if !ok || w.db != db {
		return nil
	}
	return w
}

// next counts a ledger call of the attempt: it reports whether it is the
// first and takes what is held, for the call's commit.
func (w *writes) next() (first bool, held *heldJob) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls++
	held, w.held = w.held, nil
	return w.calls == 1, held
}

// restore holds h again after a commit that failed for another reason
// than a conflict: the attempt's outcome commits it.
func (w *writes) restore(h *heldJob, err error) {
	if h == nil || err == nil || errors.As(err, new(*core.RetryLaterError)) {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.held == nil {
		w.held = h
	}
}

// hold is the attempt's first UpdateJob: fn runs once, on the committed
// record, and its result is held.
func (w *writes) hold(id string, fn func(*jobs.Job) (*jobs.Job, error)) (*jobs.Job, error) {
	var base []byte
	var cur *jobs.Job
	err := w.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketJobs).Get([]byte(id))
		if v == nil {
			return nil
		}
		base = bytes.Clone(v) // v lives only as long as tx
		var err error
		cur, err = decodeJob(id, v)
		return err
	})
	if err != nil {
		return nil, err
	}
	next, err := fn(cur.Clone())
	if err != nil {
		return nil, err
	}
	if next == nil {
		return cur, nil
	}
	next.ID = id
	v, err := json.Marshal(next)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.held = &heldJob{id: id, base: base, value: v}
	w.mu.Unlock()
	return next.Clone(), nil
}

// apply writes h in tx, unless its job changed since it was read. Batch
// may run it more than once: it changes nothing of h.
func (h *heldJob) apply(tx *bbolt.Tx) error {
	if h == nil {
		return nil
	}
	b := tx.Bucket(bucketJobs)
	if !bytes.Equal(b.Get([]byte(h.id)), h.base) {
		return &core.RetryLaterError{At: time.Now(), Free: true,
			Reason: fmt.Sprintf("job %q was changed by another writer since this attempt read it", h.id)}
	}
	return b.Put([]byte(h.id), h.value)
}

// flush commits what is held, alone.
func (w *writes) flush(ctx context.Context, h *heldJob) error {
	if h == nil {
		return nil
	}
	err := batch(ctx, w.db, h.apply)
	w.restore(h, err)
	return err
}

// settle commits the attempt's outcome, with in one transaction with what
// is held. A held write that conflicts is dropped: with then commits
// alone when retry says so (a reschedule), and otherwise the conflict is
// returned (the processed task runs again).
func (w *writes) settle(ctx context.Context, with func(*bbolt.Tx) error, retry bool) error {
	w.mu.Lock()
	h := w.held
	w.held = nil
	w.mu.Unlock()
	err := batch(ctx, w.db, func(tx *bbolt.Tx) error {
		if err := h.apply(tx); err != nil {
			return err
		}
		return with(tx)
	})
	if h != nil && retry && errors.As(err, new(*core.RetryLaterError)) {
		err = batch(ctx, w.db, with)
	}
	w.restore(h, err)
	return err
}

func decodeJob(id string, v []byte) (*jobs.Job, error) {
	var j jobs.Job
	if err := json.Unmarshal(v, &j); err != nil {
		return nil, fmt.Errorf("job %q: %w", id, err)
	}
	return &j, nil
}
