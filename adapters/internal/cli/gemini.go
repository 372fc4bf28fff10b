package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/genai"
	"google.golang.org/genai/interactions"
	"google.golang.org/genai/interactions/models/apierrors"
	"google.golang.org/genai/interactions/models/operations"
	"google.golang.org/genai/interactions/retry"

	"github.com/geminiwebhooks/receiver/adapters/internal/env"
)

// newWebhooks builds the SDK's webhooks service from the API key and base
// URL env.LoadGemini reads through run's injected getenv (GOOGLE_API_KEY
// wins over GEMINI_API_KEY, as in the SDK and in every runtime); they are
// passed explicitly, so the SDK reads nothing of the process's own.
func newWebhooks(ctx context.Context, getenv func(string) string, apiVersion string, timeout time.Duration) (*interactions.Webhooks, error) {
	g, err := env.LoadGemini(getenv)
	if err != nil {
		return nil, usagef("%v", err)
	}
	if g.APIKey == "" {
		return nil, usagef("no API key: set GEMINI_API_KEY")
	}
	cc := &genai.ClientConfig{
		APIKey:  g.APIKey,
		Backend: genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{
			BaseURL:    g.BaseURL,
			APIVersion: apiVersion,
			Timeout:    &timeout,
		},
	}
	c, err := genai.NewClient(ctx, cc)
	if err != nil {
		// The SDK's message embeds the whole ClientConfig, API key included.
		return nil, errors.New("cannot build the Gemini client (check GEMINI_API_KEY and GOOGLE_GEMINI_BASE_URL)")
	}
	return c.Webhooks, nil
}

// noRetry is for calls that must not be repeated blindly: a retried create
// whose first answer was lost registers a second webhook whose secret nobody
// holds; a retried rotate throws away the secret the first one made.
func noRetry() operations.Option {
	return operations.WithRetries(retry.Config{Strategy: "none"})
}

// apiErr turns an SDK error into a message that says what failed without
// echoing a successful response body (which, for create and rotate, holds
// the one-time secret).
func apiErr(op string, err error) error {
	var ae *apierrors.APIError
	if !errors.As(err, &ae) {
		return fmt.Errorf("%s: %w", op, err)
	}
	if ae.StatusCode < 400 {
		ct := ""
		if ae.RawResponse != nil {
			ct = ae.RawResponse.Header.Get("Content-Type")
		}
		return fmt.Errorf("%s: unexpected answer (status %d, content type %q)", op, ae.StatusCode, ct)
	}
	return fmt.Errorf("%s: status %d: %s", op, ae.StatusCode, errorMessage(ae.Body))
}

// errorMessage extracts google.rpc.Status's message from an error body, or a short prefix of the body.
func errorMessage(body string) string {
	var s struct {
		Error struct {
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	if json.Unmarshal([]byte(body), &s) == nil && s.Error.Message != "" {
		if s.Error.Status != "" {
			return s.Error.Status + ": " + s.Error.Message
		}
		return s.Error.Message
	}
	body = strings.TrimSpace(body)
	if len(body) > 300 {
		body = body[:300] + "…"
	}
	if body == "" {
		return "(empty body)"
	}
	return body
}
