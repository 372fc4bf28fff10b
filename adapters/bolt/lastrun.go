package bolt

import (
	"context"
	"encoding/json"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/geminiwebhooks/receiver/core/reconcile"
)

// bucketRuns keeps the reconcile's newest run under keyLastReconcile.
var (
	bucketRuns       = []byte("runs")
	keyLastReconcile = []byte("reconcile")
)

var _ reconcile.RunLog = (*Store)(nil)

// PutLastRun replaces the kept summary of the reconcile's last run (one
// transaction per run).
func (s *Store) PutLastRun(ctx context.Context, r reconcile.LastRun) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	err = s.batch(ctx, func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketRuns)
		if err != nil {
			return err
		}
		return b.Put(keyLastReconcile, v)
	})
	if err != nil {
		return fmt.Errorf("bolt last reconcile: %w", err)
	}
	return nil
}

// LastRun is the kept summary; nil when no reconcile finished here yet.
func (s *Store) LastRun(context.Context) (*reconcile.LastRun, error) {
	var out *reconcile.LastRun
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketRuns)
		if b == nil {
			return nil
		}
		v := b.Get(keyLastReconcile)
		if v == nil {
			return nil
		}
		out = &reconcile.LastRun{}
		return json.Unmarshal(v, out)
	})
	if err != nil {
		return nil, fmt.Errorf("bolt last reconcile: %w", err)
	}
	return out, nil
}
