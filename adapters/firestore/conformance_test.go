package firestore

import (
	"testing"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/storetest"
)

// The Firestore store passes the same conformance suite as the memory and
// file stores, against the real emulator; each subtest gets its own
// project, so no subtest sees another's records.
func TestStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) core.Store { return open(t, newConfig(t)) })
}
