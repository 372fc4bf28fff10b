package wire

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// awsClients builds the AWS configuration once, on first use (it reads
// the process's environment and shared files, never the network), and the
// clients from it. The SDK honours AWS_ENDPOINT_URL and
// AWS_ENDPOINT_URL_<SERVICE>.
type awsClients struct {
	once sync.Once
	cfg  aws.Config
	err  error
}

func (a *awsClients) config(ctx context.Context) (aws.Config, error) {
	a.once.Do(func() {
		a.cfg, a.err = config.LoadDefaultConfig(context.WithoutCancel(ctx))
		if a.err != nil {
			a.err = fmt.Errorf("aws config: %w", a.err)
		}
	})
	return a.cfg, a.err
}

func (a *awsClients) sqs(ctx context.Context) (*sqs.Client, error) {
	cfg, err := a.config(ctx)
	if err != nil {
		return nil, err
	}
	return sqs.NewFromConfig(cfg), nil
}

// s3 addresses buckets by path when an endpoint is configured: S3
// look-alikes (moto, MinIO) seldom serve bucket subdomains.
func (a *awsClients) s3(ctx context.Context) (*s3.Client, error) {
	cfg, err := a.config(ctx)
	if err != nil {
		return nil, err
	}
	custom := cfg.BaseEndpoint != nil || strings.TrimSpace(os.Getenv("AWS_ENDPOINT_URL_S3")) != ""
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = custom }), nil
}
