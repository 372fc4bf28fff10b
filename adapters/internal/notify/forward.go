package notify

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/geminiwebhooks/receiver/core/jobs"
	"github.com/geminiwebhooks/receiver/core/verify"
)

// Forward re-sends the event's verified body to a URL, signed with Standard
// Webhooks under our own whsec_ secret, with the id fixed in the ledger
// (the first delivery's webhook-id) so the receiver of the forward can
// verify it with the secret and drop a resend.
type Forward struct {
	url    string
	signer *standardwebhooks.Webhook
	client *http.Client
	clock  func() time.Time
}

// NewForward checks the URL and secret (the library accepts an empty key; we do not).
func NewForward(target, secret string, client *http.Client) (*Forward, error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("FORWARD_URL %q: want an http(s) URL", target)
	}
	if _, err := verify.DecodeSecret(secret); err != nil {
		return nil, fmt.Errorf("FORWARD_SIGNING_SECRET: %w", err)
	}
	signer, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return nil, fmt.Errorf("FORWARD_SIGNING_SECRET: not a valid whsec_ secret")
	}
	if client == nil {
		client = &http.Client{Transport: defaultTransport()}
	}
	return &Forward{url: target, signer: signer, client: client, clock: time.Now}, nil
}

func (f *Forward) Name() string { return "forward" }

func (f *Forward) Notify(ctx context.Context, n jobs.Notification) error {
	now := f.clock()
	sig, err := f.signer.Sign(n.DeliveryID, now, n.Event.Raw)
	if err != nil {
		return err
	}
	h := http.Header{}
	h.Set(standardwebhooks.HeaderWebhookID, n.DeliveryID)
	h.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
	h.Set(standardwebhooks.HeaderWebhookSignature, sig)
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "gemini-webhook-receiver/forward")
	if err := post(ctx, f.client, f.url, h, n.Event.Raw); err != nil {
		return fmt.Errorf("forward: %w", err)
	}
	return nil
}
