package jobs_test

import (
	"testing"

	"github.com/geminiwebhooks/receiver/core/jobs"
	"github.com/geminiwebhooks/receiver/core/jobs/ledgertest"
)

// The memory ledger (IDEMPOTENCY_STORE=memory, tests) passes the same
// conformance suite as the file and Firestore ledgers.
func TestMemoryLedgerConformance(t *testing.T) {
	ledgertest.RunLedger(t, func(t *testing.T) jobs.Ledger { return jobs.NewMemoryLedger(0) })
}
