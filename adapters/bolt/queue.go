package bolt

import (
	"context"
	"encoding/json"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/geminiwebhooks/receiver/core/tasks"
)

var bucketTasks = []byte("tasks")

// Tasks is the local server's durable queue: core.Worker's TaskStore in the
// store's bbolt file. PutTask returns after bbolt's commit has reached the
// disk (fsync), so a task accepted with 202 survives a crash.
type Tasks struct {
	db *bbolt.DB
}

// NewTasks opens the queue in db (the file of a Store: Store.DB()).
func NewTasks(db *bbolt.DB) (*Tasks, error) {
	err := db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketTasks)
		return err
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
	return batch(ctx, q.db, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketTasks).Put([]byte(t.ID), v)
	})
}

// ListTasks returns every queued task, in id order.
func (q *Tasks) ListTasks(context.Context) ([]tasks.Task, error) {
	var out []tasks.Task
	err := q.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketTasks).ForEach(func(k, v []byte) error {
			var t tasks.Task
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("task %q: %w", k, err)
			}
			out = append(out, t)
			return nil
		})
	})
	return out, err
}

func (q *Tasks) DeleteTask(ctx context.Context, id string) error {
	return batch(ctx, q.db, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketTasks).Delete([]byte(id))
	})
}

var _ tasks.Store = (*Tasks)(nil)
