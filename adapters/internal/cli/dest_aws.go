package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// awsSink stores the secret in AWS Secrets Manager: PutSecretValue on an
// existing secret, CreateSecret otherwise. The SDK's default chain supplies
// region, credentials and AWS_ENDPOINT_URL.
type awsSink struct {
	name   string
	client *secretsmanager.Client
	exists bool
}

func newAWSSink(ctx context.Context, name string) (*awsSink, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	if cfg.Region == "" {
		return nil, usagef("aws-secret: no AWS region (set AWS_REGION)")
	}
	return &awsSink{name: name, client: secretsmanager.NewFromConfig(cfg)}, nil
}

func (s *awsSink) Prepare(ctx context.Context, read bool) (string, error) {
	_, err := s.client.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(s.name)})
	var nf *types.ResourceNotFoundException
	switch {
	case errors.As(err, &nf):
		return "", nil // created by Put
	case err != nil:
		return "", err
	}
	s.exists = true
	if !read {
		return "", nil
	}
	out, err := s.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.name)})
	switch {
	case errors.As(err, &nf):
		return "", nil // a secret with no value yet
	case err != nil:
		return "", err
	}
	return aws.ToString(out.SecretString), nil
}

func (s *awsSink) Put(ctx context.Context, value string) error {
	if !s.exists {
		_, err := s.client.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
			Name:         aws.String(s.name),
			SecretString: aws.String(value),
			Description:  aws.String("Gemini webhook signing secret(s), comma separated, newest first (WEBHOOK_SIGNING_SECRET)"),
		})
		var ex *types.ResourceExistsException
		if !errors.As(err, &ex) {
			return err
		}
		// Someone made it between Prepare and now: fall through to a new version.
	}
	_, err := s.client.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId:     aws.String(s.name),
		SecretString: aws.String(value),
	})
	return err
}

func (s *awsSink) Close() error { return nil }
