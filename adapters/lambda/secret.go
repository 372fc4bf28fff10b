package lambda

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// secretFetchTimeout bounds each init-time read of a secret (env.LoadLambda
// calls fetchSecretString for each *_ARN variable); Lambda's init phase has 10 s.
const secretFetchTimeout = 5 * time.Second

// fetchSecretString reads a secret's current version with the default AWS
// configuration (the execution role in Lambda; AWS_ENDPOINT_URL is honoured).
func fetchSecretString(ctx context.Context, id string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, secretFetchTimeout)
	defer cancel()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return "", fmt.Errorf("aws config: %w", err)
	}
	out, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &id})
	if err != nil {
		return "", fmt.Errorf("read secret: %w", err)
	}
	if out.SecretString == nil {
		return "", errors.New("secret has no string value (binary secrets are not supported)")
	}
	return *out.SecretString, nil
}
