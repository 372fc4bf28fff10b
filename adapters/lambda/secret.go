package lambda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Environment names of the signing secret.
const (
	envSigningSecret    = "WEBHOOK_SIGNING_SECRET"
	envSigningSecretARN = "WEBHOOK_SIGNING_SECRET_ARN"
)

// secretFetchTimeout bounds the init-time read; Lambda's init phase has 10 s.
const secretFetchTimeout = 5 * time.Second

// withSigningSecret returns getenv with WEBHOOK_SIGNING_SECRET taken from
// the Secrets Manager secret named by WEBHOOK_SIGNING_SECRET_ARN, read once,
// at init. The secret's value is the same list the variable takes
// ("whsec_new,whsec_old" during a rotation), or a JSON object holding it
// under the key WEBHOOK_SIGNING_SECRET (the console's key/value form).
// core.LoadConfig validates it; its errors name positions, never values.
func withSigningSecret(ctx context.Context, getenv func(string) string, fetch func(ctx context.Context, id string) (string, error)) (func(string) string, error) {
	id := strings.TrimSpace(getenv(envSigningSecretARN))
	if id == "" {
		return getenv, nil
	}
	if strings.TrimSpace(getenv(envSigningSecret)) != "" {
		return nil, fmt.Errorf("set %s or %s, not both", envSigningSecret, envSigningSecretARN)
	}
	ctx, cancel := context.WithTimeout(ctx, secretFetchTimeout)
	defer cancel()
	raw, err := fetch(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", envSigningSecretARN, err)
	}
	value, err := secretList(raw)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", envSigningSecretARN, id, err)
	}
	return func(name string) string {
		if name == envSigningSecret {
			return value
		}
		return getenv(name)
	}, nil
}

// secretList extracts the secret list from a secret's string value.
func secretList(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if !strings.HasPrefix(raw, "{") {
		return raw, nil
	}
	// Parse errors are not wrapped: they may quote the value.
	var kv map[string]any
	if err := json.Unmarshal([]byte(raw), &kv); err != nil {
		return "", errors.New("value looks like JSON but is not a valid object")
	}
	s, ok := kv[envSigningSecret].(string)
	if !ok || strings.TrimSpace(s) == "" {
		return "", fmt.Errorf("JSON value has no string key %q", envSigningSecret)
	}
	return s, nil
}

// fetchSecretString reads a secret's current version with the default AWS
// configuration (the execution role in Lambda; AWS_ENDPOINT_URL is honoured).
func fetchSecretString(ctx context.Context, id string) (string, error) {
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
