package bolt

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/geminiwebhooks/receiver/core/tasks"
)

var (
	bucketTasks = []byte("tasks")
	// bucketQueue keeps the queue's own state: keyRun, the number of the
	// latest run of a worker (Resume), which names the start slots it writes.
	bucketQueue = []byte("queue")
	keyRun      = []byte("run")
	// keyStopped marked a clean stop in files written before the start
	// slots; Resume deletes it.
	keyStopped = []byte("stopped")
)

// Tasks is the local server's durable queue: core/tasks' QueueStore in the
// store's bbolt file. Every write returns after bbolt's commit has reached
// the disk (fsync), so a task accepted with 202 survives a crash. Sharing
// the file with the idempotency records and the job ledger, it receives a
// delivery in one transaction (the task and its completed claim: PutTask)
// and settles an attempt in another (the ledger's held write and the task's
// deletion or reschedule: BeginAttempt), and Batch groups those of
// concurrent deliveries into one commit. The start of each attempt is recorded outside
// the transactions, in a file beside the database (path + ".running", see
// starts), so that a crash charges an attempt to the tasks it interrupted
// and to no other.
type Tasks struct {
	db *bbolt.DB
	f  *file

	mu      sync.Mutex
	running *starts // nil until Resume, and after Stop
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
	return &Tasks{db: db, f: fileOf(db)}, nil
}

// PutTask writes t. The task of a delivery whose claim the Store of the
// same file holds (the receiver queues it) completes the claim in the same
// commit; that write is all or nothing, even when ctx ends (see
// batchOrNothing): a claim completed by a task the caller gave up on would
// make Gemini's retry a duplicate of an event the worker never saw.
func (q *Tasks) PutTask(ctx context.Context, t tasks.Task) error {
	v, err := json.Marshal(t)
	if err != nil {
		return err
	}
	now := time.Now()
	h, held := q.f.toQueue(t.ID, t.Body, now)
	if h == nil {
		return batch(ctx, q.db, func(tx *bbolt.Tx) error { return putTask(tx, t.ID, v) })
	}
	rec := *held.rec
	keepUntil := held.c.Now.Add(time.Duration(q.f.ttl.Load()))
	completed(&rec, now, keepUntil)
	err = batchOrNothing(ctx, q.db, func(tx *bbolt.Tx) error {
		if err := putRecord(tx.Bucket(bucketDeliveries), t.ID, &rec); err != nil {
			return err
		}
		return putTask(tx, t.ID, v)
	})
	if err != nil {
		return fmt.Errorf("bolt claim and queue: %w", err)
	}
	q.f.queued(h, &rec, keepUntil)
	return nil
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

// BeginAttempt records the start of an attempt of t (one write to the
// file of starts, no transaction) and returns ctx carrying the attempt's
// writes, which the Ledger of the same file fills, and the Attempt that
// commits what they hold with the task's outcome. It fails before Resume
// and after Stop.
func (q *Tasks) BeginAttempt(ctx context.Context, t tasks.Task) (context.Context, tasks.Attempt, error) {
	q.mu.Lock()
	r := q.running
	q.mu.Unlock()
	if r == nil {
		return nil, nil, errNotResumed
	}
	slot, err := r.begin(t.ID, t.Attempts)
	if err != nil {
		return nil, nil, fmt.Errorf("bolt tasks: %w", err)
	}
	w := &writes{db: q.db}
	return context.WithValue(ctx, writesKey{}, w), attempt{w: w, running: r, slot: slot}, nil
}

// attempt settles one attempt: what the ledger holds of it and the task's
// deletion or reschedule in one transaction.
type attempt struct {
	w       *writes
	running *starts
	slot    int64
}

// End forgets the attempt's start, unless the database is closed: a closed
// store is a stopped process, whose running attempts the next Resume
// charges (the file closed under an attempt is how tests crash one).
func (a attempt) End() {
	open := a.w.db.View(func(*bbolt.Tx) error { return nil }) == nil
	if open {
		a.running.end(a.slot)
	}
}

func (a attempt) Done(ctx context.Context, id string) error {
	return a.w.settle(ctx, func(tx *bbolt.Tx) error { return tx.Bucket(bucketTasks).Delete([]byte(id)) }, false)
}

func (a attempt) Retry(ctx context.Context, t tasks.Task) error {
	v, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return a.w.settle(ctx, func(tx *bbolt.Tx) error { return putTask(tx, t.ID, v) }, true)
}

// Resume lists the queued tasks and charges one attempt to each that the
// last run's start slots record as running with the attempts it still has
// (an attempt begun, never ended: a crash interrupted it); it numbers this
// run. One transaction; then the file of starts is emptied for this run.
func (q *Tasks) Resume(context.Context) ([]tasks.Task, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.running != nil {
		return nil, errors.New("bolt tasks: resume: the worker runs already")
	}
	var out []tasks.Task
	var f *os.File
	var run uint64
	err := update(q.db, func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketQueue)
		last := uint64(0)
		if v := meta.Get(keyRun); len(v) == 8 {
			last = binary.BigEndian.Uint64(v)
		}
		var running map[[sha256.Size]byte]uint32
		var err error
		if f, running, err = readStarts(q.db.Path()+startsSuffix, last); err != nil {
			return err
		}
		if out, err = listTasks(tx); err != nil {
			return err
		}
		for i := range out {
			if a, ok := running[startKey(out[i].ID)]; !ok || int(a) != out[i].Attempts {
				continue // not started, or its attempt was settled
			}
			out[i].Attempts++
			out[i].Crashes++
			v, err := json.Marshal(out[i])
			if err != nil {
				return err
			}
			if err := putTask(tx, out[i].ID, v); err != nil {
				return err
			}
		}
		run = last + 1
		if err := meta.Put(keyRun, binary.BigEndian.AppendUint64(nil, run)); err != nil {
			return err
		}
		return meta.Delete(keyStopped)
	})
	if err == nil {
		// The charges are committed: the old slots are spent (and, naming
		// an older run, would be ignored if this truncation did not land).
		err = f.Truncate(0)
	}
	if err != nil {
		if f != nil {
			f.Close()
		}
		return nil, fmt.Errorf("bolt tasks: resume: %w", err)
	}
	q.running = &starts{f: f, run: run}
	return out, nil
}

// Stop closes the file of starts (the worker's attempts have all ended).
func (q *Tasks) Stop(context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.running == nil {
		return nil
	}
	err := q.running.f.Close()
	q.running = nil
	return err
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

var _ tasks.QueueStore = (*Tasks)(nil)
