package wire_test

import (
	"context"
	"strings"
	"testing"

	"github.com/geminiwebhooks/receiver/adapters/env"
	"github.com/geminiwebhooks/receiver/adapters/wire"
	"github.com/geminiwebhooks/receiver/core"
)

// IDEMPOTENCY_STORE=dynamodb is opened by the Cloud that serves it (the AWS
// adapters' Stores), through Build as through OpenBackendIn; a runtime
// whose Cloud does not serve it refuses it at build, naming the variable
// and the runtime, rather than on the first delivery.
func TestStoresOfTheCloud(t *testing.T) {
	cfg, err := env.Load(func(k string) string {
		return map[string]string{"IDEMPOTENCY_STORE": "dynamodb", "DYNAMODB_TABLE": "records", "WEBHOOK_SIGNING_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}[k]
	}, env.Cloud)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, err = wire.Build(ctx, cfg, nil, wire.Options{Cloud: wire.Cloud{Name: "Cloud Functions"}})
	if err == nil || !strings.Contains(err.Error(), "IDEMPOTENCY_STORE dynamodb: Cloud Functions cannot use it") {
		t.Fatalf("Build without a dynamodb store: %v", err)
	}
	var opened string
	m := core.NewMemoryStore(10)
	aws := wire.Cloud{Name: "AWS", Stores: map[string]wire.OpenStore{"dynamodb": func(_ context.Context, cfg env.Config) (*wire.Backend, error) {
		opened = cfg.DynamoDBTable
		return &wire.Backend{Store: m, DeadLetters: m, Ledger: nil, Close: func() error { return nil }}, nil
	}}}
	// Merged with another cloud (as the local server merges AWS and Google Cloud), it is still there.
	b, err := wire.OpenBackendIn(ctx, cfg, wire.Cloud{Name: "local"}.Merge(aws))
	if err != nil || b.Store != m || opened != "records" {
		t.Fatalf("OpenBackendIn: %v, %v; opened table %q", b, err, opened)
	}
}
