package aws

import (
	"context"

	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/geminiwebhooks/receiver/adapters/dynamodb"
	"github.com/geminiwebhooks/receiver/adapters/env"
	"github.com/geminiwebhooks/receiver/adapters/wire"
)

// DynamoDB is a DynamoDB client (AWS_ENDPOINT_URL_DYNAMODB, or
// AWS_ENDPOINT_URL, points it at a local endpoint).
func (a *Clients) DynamoDB(ctx context.Context) (*awsdynamodb.Client, error) {
	cfg, err := a.Config(ctx)
	if err != nil {
		return nil, err
	}
	return awsdynamodb.NewFromConfig(cfg), nil
}

// openDynamoDB is the backend of IDEMPOTENCY_STORE=dynamodb: the store, its
// dead letters, the reconcile's last run and the job ledger, in
// DYNAMODB_TABLE, sharing one client. Nothing here calls the network.
func (a *Clients) openDynamoDB(ctx context.Context, cfg env.Config) (*wire.Backend, error) {
	client, err := a.DynamoDB(ctx)
	if err != nil {
		return nil, err
	}
	s, err := dynamodb.New(ctx, dynamodb.Config{Table: cfg.DynamoDBTable, Client: client})
	if err != nil {
		return nil, err
	}
	return &wire.Backend{Store: s, DeadLetters: s, Ledger: s.Ledger(), Close: s.Close}, nil
}
