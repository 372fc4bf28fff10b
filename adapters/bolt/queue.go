package bolt

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/tasks"
)

var (
	bucketTasks = []byte("tasks")
	// bucketQueue keeps the queue's own state: keyStopped while the last
	// worker stopped cleanly and no other has started since.
	bucketQueue = []byte("queue")
	keyStopped  = []byte("stopped")
)

// Tasks is the local server's durable queue: core/tasks' TxStore in the
// store's bbolt file. Every write returns after bbolt's commit has reached
// the disk (fsync), so a task accepted with 202 survives a crash. Sharing
// the file with the idempotency records and the job ledger, it receives a
// delivery in one transaction (claim, task, completion: PutClaimedTask) and
// settles an attempt in another (the ledger's writes and the task's deletion
// or reschedule: BeginAttempt), and Batch groups those of concurrent
// deliveries into one commit.
type Tasks struct {
	db *bbolt.DB
}

// NewTasks opens the queue in db (the file of a Store: Store.DB()).
func NewTasks(db *bbolt.DB) (*Tasks, error) {
	err := db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketTasks, bucketQueue, bucketDeliveries, bucketJobs} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bolt tasks: %w", err)
	}
	return &Tasks{db: db}, nil
}

func (q *Tasks) PutTask(ctx context.Context, t tasks.Task) error {
	v, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return batch(ctx, q.db, func(tx *bbolt.Tx) error { return putTask(tx, t.ID, v) })
}

// ListTasks returns every queued task, in id order.
func (q *Tasks) ListTasks(context.Context) ([]tasks.Task, error) {
	var out []tasks.Task
	err := q.db.View(func(tx *bbolt.Tx) error {
		var err error
		out, err = listTasks(tx)
		return err
	})
	return out, err
}

func (q *Tasks) DeleteTask(ctx context.Context, id string) error {
	return batch(ctx, q.db, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketTasks).Delete([]byte(id))
	})
}

// PutClaimedTask takes c as Store.Claim does and, when it wins, stores t
// and completes the claim, until keepUntil, in the same transaction.
func (q *Tasks) PutClaimedTask(ctx context.Context, c core.Claim, keepUntil time.Time, t tasks.Task) (core.ClaimResult, error) {
	task, err := json.Marshal(t)
	if err != nil {
		return 0, err
	}
	var verdict core.ClaimResult
	err = batch(ctx, q.db, func(tx *bbolt.Tx) error {
		v, rec, err := claimIn(tx, c)
		verdict = v
		if err != nil || rec == nil {
			return err
		}
		if err := putRecord(tx.Bucket(bucketDeliveries), c.Key, completed(rec, c.Now, keepUntil)); err != nil {
			return err
		}
		return putTask(tx, t.ID, task)
	})
	if err != nil {
		return 0, fmt.Errorf("bolt claim and queue: %w", err)
	}
	return verdict, nil
}

// BeginAttempt returns ctx carrying the attempt's core.Writes, which the
// Ledger of the same file fills, and the Attempt that commits them.
func (q *Tasks) BeginAttempt(ctx context.Context) (context.Context, tasks.Attempt) {
	w := newWrites(q.db)
	return core.WithWrites(ctx, w), attempt{w}
}

// attempt settles one attempt: the ledger's held writes and the task's
// deletion or reschedule in one transaction.
type attempt struct{ w *writes }

func (a attempt) Done(ctx context.Context, id string) error {
	return a.w.commit(ctx, func(tx *bbolt.Tx) error { return tx.Bucket(bucketTasks).Delete([]byte(id)) })
}

func (a attempt) Retry(ctx context.Context, t tasks.Task) error {
	v, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return a.w.commit(ctx, func(tx *bbolt.Tx) error { return putTask(tx, t.ID, v) })
}

// Resume lists the queued tasks and, unless keyStopped says the last worker
// stopped cleanly, charges those charge selects one attempt; it deletes
// keyStopped. One transaction.
func (q *Tasks) Resume(_ context.Context, charge func(tasks.Task) bool) ([]tasks.Task, error) {
	var out []tasks.Task
	err := update(q.db, func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketQueue)
		clean := meta.Get(keyStopped) != nil
		var err error
		if out, err = listTasks(tx); err != nil {
			return err
		}
		for i := range out {
			if clean || !charge(out[i]) {
				continue
			}
			out[i].Attempts++
			v, err := json.Marshal(out[i])
			if err != nil {
				return err
			}
			if err := putTask(tx, out[i].ID, v); err != nil {
				return err
			}
		}
		return meta.Delete(keyStopped)
	})
	if err != nil {
		return nil, fmt.Errorf("bolt tasks: resume: %w", err)
	}
	return out, nil
}

// Stop records that the worker stopped with no attempt running.
func (q *Tasks) Stop(context.Context) error {
	return update(q.db, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketQueue).Put(keyStopped, []byte(time.Now().UTC().Format(time.RFC3339Nano)))
	})
}

// putTask writes a task's encoding (made before the transaction: the
// writer's lock is held as short as possible).
func putTask(tx *bbolt.Tx, id string, v []byte) error {
	return tx.Bucket(bucketTasks).Put([]byte(id), v)
}

func listTasks(tx *bbolt.Tx) ([]tasks.Task, error) {
	var out []tasks.Task
	err := tx.Bucket(bucketTasks).ForEach(func(k, v []byte) error {
		var t tasks.Task
		if err := json.Unmarshal(v, &t); err != nil {
			return fmt.Errorf("task %q: %w", k, err)
		}
		out = append(out, t)
		return nil
	})
	return out, err
}

var _ tasks.TxStore = (*Tasks)(nil)
