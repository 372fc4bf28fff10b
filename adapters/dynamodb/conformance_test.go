package dynamodb

import (
	"context"
	"testing"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
	"github.com/geminiwebhooks/receiver/core/jobs/ledgertest"
	"github.com/geminiwebhooks/receiver/core/storetest"
)

// The DynamoDB store passes the same conformance suite as the memory, file
// and Firestore stores, against moto_server; each subtest gets its own table.
func TestStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) core.Store { return open(t, newTable(t), nil) })
}

// The job ledger passes the same suite as the others: one landing claim
// wins among concurrent workers, concurrent deliveries lose no update.
func TestLedgerConformance(t *testing.T) {
	ledgertest.RunLedger(t, func(t *testing.T) jobs.Ledger {
		l, err := NewLedger(context.Background(), Config{Table: newTable(t), Client: newClient(nil)})
		if err != nil {
			t.Fatal(err)
		}
		return l
	})
}
