package aws

import (
	"context"

	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/geminiwebhooks/receiver/adapters/dynamodb"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
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

// OpenDynamoDB opens what IDEMPOTENCY_STORE=dynamodb keeps in table (its
// DYNAMODB_TABLE): the store, which also keeps the dead letters and the
// reconcile's last run, and the job ledger, sharing one client, with their
// closer. Nothing here calls the network.
func (a *Clients) OpenDynamoDB(ctx context.Context, table string) (store interface {
	core.Store
	core.DeadLetters
}, ledger jobs.Ledger, closeFn func() error, err error) {
	client, err := a.DynamoDB(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	s, err := dynamodb.New(ctx, dynamodb.Config{Table: table, Client: client})
	if err != nil {
		return nil, nil, nil, err
	}
	return s, s.Ledger(), s.Close, nil
}
