package wire

import (
	"context"

	"github.com/geminiwebhooks/receiver/adapters/internal/env"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

// The clients of a cloud, as the cloud's adapters implement them
// (adapters/internal/aws, adapters/internal/gcs, adapters/internal/pubsub): wire names them by
// their methods, so that it links none of them, and they import neither
// wire nor env (the runtime passes them the configuration's values).
type (
	queueOpener interface {
		OpenQueue(ctx context.Context, target string) (core.Queue, func() error, error)
	}
	sinkOpener interface {
		OpenSink(ctx context.Context, uri string) (jobs.Sink, error)
	}
	bucketClients interface {
		sinkOpener
		jobs.Fetcher
	}
	awsClients interface {
		queueOpener
		sinkOpener
		OpenDynamoDB(ctx context.Context, table string) (store interface {
			core.Store
			core.DeadLetters
		}, ledger jobs.Ledger, closeFn func() error, err error)
	}
)

// AWSCloud is what a runtime reaches on AWS through c (adapters/internal/aws's
// Clients): the DynamoDB store (IDEMPOTENCY_STORE=dynamodb), the SQS queue
// (QUEUE=sqs:…) and the S3 sink (RESULTS_SINK=s3://…).
func AWSCloud(c awsClients) Cloud {
	return Cloud{
		Name: "AWS",
		Stores: map[string]OpenStore{"dynamodb": func(ctx context.Context, cfg env.Config) (*Backend, error) {
			s, ledger, closeFn, err := c.OpenDynamoDB(ctx, cfg.DynamoDBTable)
			if err != nil {
				return nil, err
			}
			return &Backend{Store: s, DeadLetters: s, Ledger: ledger, Close: closeFn}, nil
		}},
		Queues: map[string]OpenQueue{env.QueueSQS: c.OpenQueue},
		Sinks:  map[string]OpenSink{"s3": c.OpenSink},
	}
}

// GoogleCloud is what a runtime reaches on Google Cloud: the Pub/Sub
// queue publish opens (QUEUE=pubsub:…; adapters/internal/pubsub's Publisher.Open),
// and through storage (adapters/internal/gcs's Clients) the gs:// sink and the
// gs:// batch outputs (a Vertex AI batch writes them to a bucket).
func GoogleCloud(publish OpenQueue, storage bucketClients) Cloud {
	return Cloud{
		Name:    "Google Cloud",
		Queues:  map[string]OpenQueue{env.QueuePubSub: publish},
		Sinks:   map[string]OpenSink{"gs": storage.OpenSink},
		Sources: map[string]jobs.Fetcher{"gs": storage},
	}
}
