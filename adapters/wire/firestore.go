package wire

import (
	"context"

	"github.com/geminiwebhooks/receiver/adapters/firestore"
	"github.com/geminiwebhooks/receiver/core"
)

// buildFirestore opens the Firestore store named by GOOGLE_CLOUD_PROJECT,
// FIRESTORE_DATABASE and FIRESTORE_COLLECTION. The client honours
// FIRESTORE_EMULATOR_HOST itself and connects lazily.
func buildFirestore(ctx context.Context, cfg core.Config) (core.Store, core.DeadLetters, func() error, error) {
	s, err := firestore.New(ctx, firestore.Config{
		ProjectID:  cfg.GoogleCloudProject,
		DatabaseID: cfg.FirestoreDatabase,
		Collection: cfg.FirestoreCollection,
	})
	if err != nil {
		return nil, nil, nil, err
	}
	return s, s, s.Close, nil
}
