package lambda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Environment of the worker's Gemini API key.
const (
	envGeminiAPIKey    = "GEMINI_API_KEY"
	envGeminiAPIKeyARN = "GEMINI_API_KEY_ARN"
)

// withGeminiAPIKey returns getenv with GEMINI_API_KEY taken from the Secrets
// Manager secret named by GEMINI_API_KEY_ARN, read once, at init, for the
// same reasons as the signing secret (no value in the function's
// configuration, a new key needs no deploy). The value is the key, or a JSON
// object holding it under GEMINI_API_KEY. Errors never quote it.
func withGeminiAPIKey(ctx context.Context, getenv func(string) string, fetch func(ctx context.Context, id string) (string, error)) (func(string) string, error) {
	id := strings.TrimSpace(getenv(envGeminiAPIKeyARN))
	if id == "" {
		return getenv, nil
	}
	if strings.TrimSpace(getenv(envGeminiAPIKey)) != "" {
		return nil, fmt.Errorf("set %s or %s, not both", envGeminiAPIKey, envGeminiAPIKeyARN)
	}
	ctx, cancel := context.WithTimeout(ctx, secretFetchTimeout)
	defer cancel()
	raw, err := fetch(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", envGeminiAPIKeyARN, err)
	}
	key := strings.TrimSpace(raw)
	if strings.HasPrefix(key, "{") {
		var kv map[string]any
		if json.Unmarshal([]byte(key), &kv) != nil {
			return nil, fmt.Errorf("%s %s: value looks like JSON but is not a valid object", envGeminiAPIKeyARN, id)
		}
		s, _ := kv[envGeminiAPIKey].(string)
		key = strings.TrimSpace(s)
	}
	if key == "" {
		return nil, fmt.Errorf("%s %s: %w", envGeminiAPIKeyARN, id, errors.New("the secret holds no API key"))
	}
	return func(name string) string {
		if name == envGeminiAPIKey {
			return key
		}
		return getenv(name)
	}, nil
}
