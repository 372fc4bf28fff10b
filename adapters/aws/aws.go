// Package aws is what a runtime reaches on AWS: the SDK's configuration,
// loaded once per process, and from it the SQS queue (QUEUE=sqs:…) and the
// S3 results sink (RESULTS_SINK=s3://…) as a wire.Cloud. Only binaries that
// can use AWS import it.
package aws

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/geminiwebhooks/receiver/adapters/env"
	"github.com/geminiwebhooks/receiver/adapters/s3"
	"github.com/geminiwebhooks/receiver/adapters/sqs"
	"github.com/geminiwebhooks/receiver/adapters/wire"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

// Clients builds the AWS configuration once, on first use (it reads
// the process's environment and shared files, never the network), and the
// clients from it. The SDK honours AWS_ENDPOINT_URL and
// AWS_ENDPOINT_URL_<SERVICE>.
type Clients struct {
	once sync.Once
	cfg  awssdk.Config
	err  error
}

// Config is the SDK configuration, loaded on first use.
func (a *Clients) Config(ctx context.Context) (awssdk.Config, error) {
	a.once.Do(func() {
		a.cfg, a.err = config.LoadDefaultConfig(context.WithoutCancel(ctx))
		if a.err != nil {
			a.err = fmt.Errorf("aws config: %w", a.err)
		}
	})
	return a.cfg, a.err
}

// SQS is an SQS client.
func (a *Clients) SQS(ctx context.Context) (*awssqs.Client, error) {
	cfg, err := a.Config(ctx)
	if err != nil {
		return nil, err
	}
	return awssqs.NewFromConfig(cfg), nil
}

// S3 is an S3 client. It addresses buckets by path when an endpoint is configured: S3
// look-alikes (moto, MinIO) seldom serve bucket subdomains.
func (a *Clients) S3(ctx context.Context) (*awss3.Client, error) {
	cfg, err := a.Config(ctx)
	if err != nil {
		return nil, err
	}
	custom := cfg.BaseEndpoint != nil || strings.TrimSpace(os.Getenv("AWS_ENDPOINT_URL_S3")) != ""
	return awss3.NewFromConfig(cfg, func(o *awss3.Options) { o.UsePathStyle = custom }), nil
}

// Cloud is the SQS queue, the S3 sink and the DynamoDB store, built from
// c's configuration.
func (a *Clients) Cloud() wire.Cloud {
	return wire.Cloud{
		Name:   "AWS",
		Stores: map[string]wire.OpenStore{"dynamodb": a.openDynamoDB},
		Queues: map[string]wire.OpenQueue{env.QueueSQS: func(ctx context.Context, url string) (core.Queue, func() error, error) {
			client, err := a.SQS(ctx)
			if err != nil {
				return nil, nil, err
			}
			q, err := sqs.New(client, url)
			return q, nil, err
		}},
		Sinks: map[string]wire.OpenSink{"s3": func(ctx context.Context, uri string) (jobs.Sink, error) {
			client, err := a.S3(ctx)
			if err != nil {
				return nil, err
			}
			return s3.New(client, uri)
		}},
	}
}
