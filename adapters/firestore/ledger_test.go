package firestore

import (
	"context"
	"testing"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
	"github.com/geminiwebhooks/receiver/core/jobs/ledgertest"
)

// The job ledger passes the same conformance suite as the local ones,
// against the real Firestore emulator: one landing claim wins among
// concurrent workers, concurrent deliveries lose no update.
func TestLedgerConformance(t *testing.T) {
	ledgertest.RunLedger(t, func(t *testing.T) jobs.Ledger {
		l, err := NewLedger(context.Background(), LedgerConfig{ProjectID: newProject(t), Collection: "jobs"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	})
}

// A ledger sharing the store's client sees the same database.
func TestLedgerSharesStoreClient(t *testing.T) {
	s := open(t, newConfig(t))
	l, err := NewLedger(context.Background(), LedgerConfig{Client: s.FirestoreClient()})
	if err != nil {
		t.Fatal(err)
	}
	ev := &core.Event{Type: core.BatchCancelled, Delivery: core.Delivery{ID: "msg_x"}}
	ev.Data.ID = "batches/shared"
	if _, err := l.UpdateJob(context.Background(), "batches/shared", func(j *jobs.Job) (*jobs.Job, error) {
		return jobs.ApplyEvent(j, ev, ev.Time()), nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil { // must not close the shared client
		t.Fatal(err)
	}
	j, err := l.GetJob(context.Background(), "batches/shared")
	if err != nil || j == nil || j.State != jobs.JobCancelled {
		t.Fatalf("GetJob = %+v, %v", j, err)
	}
}
