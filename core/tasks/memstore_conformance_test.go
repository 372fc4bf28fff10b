package tasks_test

import (
	"testing"

	"github.com/geminiwebhooks/receiver/core/jobs/ledgertest"
	"github.com/geminiwebhooks/receiver/core/tasks"
)

// The in-memory task store runs the suite every task store runs (the file
// store's is in adapters/bolt).
func TestMemoryStoreConformance(t *testing.T) {
	ledgertest.RunTasks(t, func(t *testing.T) tasks.Store { return tasks.NewMemoryStore() })
}
