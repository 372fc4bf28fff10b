package wire

import (
	"context"
	"errors"

	"github.com/geminiwebhooks/receiver/core"
)

// buildFirestore is filled in by the Firestore adapter.
func buildFirestore(ctx context.Context, cfg core.Config) (core.Store, core.DeadLetters, func() error, error) {
	return nil, nil, nil, errors.New("IDEMPOTENCY_STORE=firestore: not built yet")
}
