package wire

import (
	"context"
	"fmt"

	"github.com/geminiwebhooks/receiver/adapters/env"
)

// OpenStore opens a backend that lives in a cloud wire does not link
// (IDEMPOTENCY_STORE=dynamodb: adapters/aws), from the loaded configuration.
type OpenStore func(ctx context.Context, cfg env.Config) (*Backend, error)

// OpenBackendIn opens the backend IDEMPOTENCY_STORE names: one of cloud's
// Stores, else a built-in one (OpenBackend). A store no adapter of this
// binary serves is refused naming the variable and the runtime.
func OpenBackendIn(ctx context.Context, cfg env.Config, cloud Cloud) (*Backend, error) {
	if open := cloud.Stores[cfg.IdempotencyStore]; open != nil {
		return open(ctx, cfg)
	}
	switch cfg.IdempotencyStore {
	case "memory", "file", "firestore":
		return OpenBackend(ctx, cfg)
	}
	where := cloud.Name
	if where == "" {
		where = "this program"
	}
	return nil, fmt.Errorf("IDEMPOTENCY_STORE %s: %s cannot use it (dynamodb is for the AWS Lambda and the admin commands)", cfg.IdempotencyStore, where)
}
