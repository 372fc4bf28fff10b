package gemini

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/genai"
	ia "google.golang.org/genai/interactions/models/interactions"
	"google.golang.org/genai/interactions/models/operations"
	"google.golang.org/genai/interactions/retry"

	"github.com/geminiwebhooks/receiver/adapters/internal/env"
)

// Receiver says where a started interaction's events go.
type Receiver struct {
	// URIs receive the interaction's events (its webhook_config uris);
	// nil: RECEIVER_URL, this receiver's own public URL(s).
	URIs []string
	// UserMetadata is echoed in each of the interaction's events, so the
	// handlers (jobs.JobOf) and every later round of a tools
	// conversation find it.
	UserMetadata map[string]any
}

// StartModelInteraction creates a model interaction that runs in the
// background, stored, and sends its events to the receiver: what a tools
// conversation (core.Mux.Tool) needs, without repeating it in each
// request. What req sets of the webhook_config is kept; the rest comes
// from r. The SDK does not resend the create (the API takes no
// idempotency key).
func StartModelInteraction(ctx context.Context, c *genai.Client, req ia.CreateModelInteraction, r Receiver) (*ia.Interaction, error) {
	wc, err := receiverConfig(req.WebhookConfig, r)
	if err != nil {
		return nil, err
	}
	req.Background, req.Store, req.WebhookConfig = ptr(true), ptr(true), wc
	return start(ctx, c, operations.NewCreateInteractionRequestBody(req))
}

// StartAgentInteraction is StartModelInteraction for an agent.
func StartAgentInteraction(ctx context.Context, c *genai.Client, req ia.CreateAgentInteraction, r Receiver) (*ia.Interaction, error) {
	wc, err := receiverConfig(req.WebhookConfig, r)
	if err != nil {
		return nil, err
	}
	req.Background, req.Store, req.WebhookConfig = ptr(true), ptr(true), wc
	return start(ctx, c, operations.NewCreateInteractionRequestBody(req))
}

// receiverConfig is the webhook_config of a started interaction.
func receiverConfig(have *ia.WebhookConfig, r Receiver) (*ia.WebhookConfig, error) {
	wc := ia.WebhookConfig{}
	if have != nil {
		wc = *have
	}
	if len(wc.Uris) == 0 {
		wc.Uris = r.URIs
	}
	if len(wc.Uris) == 0 {
		urls, errs := env.ReceiverURLs(env.Getenv)
		if len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
		if len(urls) == 0 {
			return nil, errors.New("gemini: start an interaction: RECEIVER_URL is not set and no URIs are given: its events would reach no receiver")
		}
		wc.Uris = urls
	}
	if wc.UserMetadata == nil {
		wc.UserMetadata = r.UserMetadata
	}
	return &wc, nil
}

func start(ctx context.Context, c *genai.Client, body operations.CreateInteractionRequestBody) (*ia.Interaction, error) {
	if c == nil || c.Interactions == nil {
		return nil, errors.New("gemini: start an interaction: no client")
	}
	resp, err := c.Interactions.Create(ctx, operations.CreateInteractionRequest{Body: body}, operations.WithRetries(retry.Config{Strategy: "none"}))
	if err != nil {
		return nil, fmt.Errorf("gemini interactions.create: %w", interactionsError(err))
	}
	it := resp.GetInteraction()
	if it == nil || it.ID == nil || *it.ID == "" {
		return nil, errors.New("gemini interactions.create: the answer names no interaction")
	}
	return it, nil
}
