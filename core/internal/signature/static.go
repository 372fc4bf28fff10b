package signature

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/internal/delivery"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// StaticVerifier checks Standard Webhooks HMAC signatures against one or more
// whsec_ secrets (Gemini keeps the previous secret valid for 24 h after a
// rotation, so both must verify during the switch).
type StaticVerifier struct {
	hooks     []*standardwebhooks.Webhook
	tolerance time.Duration
}

// NewStaticVerifier validates every secret up front; see ParseSecrets.
func NewStaticVerifier(secrets []string, tolerance time.Duration) (*StaticVerifier, error) {
	if len(secrets) == 0 {
		return nil, fmt.Errorf("static verifier: no signing secret")
	}
	if tolerance <= 0 {
		tolerance = core.DefaultTolerance
	}
	v := &StaticVerifier{tolerance: tolerance}
	for i, s := range secrets {
		// The library accepts an empty or short key; ours does not.
		if _, err := DecodeSecret(s); err != nil {
			return nil, fmt.Errorf("signing secret %d of %d: %w", i+1, len(secrets), err)
		}
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			return nil, fmt.Errorf("signing secret %d of %d: not usable", i+1, len(secrets))
		}
		v.hooks = append(v.hooks, wh)
	}
	return v, nil
}

func (v *StaticVerifier) Verify(_ context.Context, h http.Header, body []byte, now time.Time) (core.Delivery, error) {
	id := delivery.Header(h, delivery.HeaderID)
	tsRaw := delivery.Header(h, delivery.HeaderTimestamp)
	sig := delivery.Header(h, delivery.HeaderSignature)
	d := core.Delivery{Scheme: core.SchemeStatic}
	if id == "" || tsRaw == "" || sig == "" {
		return d, fmt.Errorf("%w: need webhook-id, webhook-timestamp and webhook-signature", core.ErrMissingHeaders)
	}
	if err := checkID(id); err != nil {
		return d, err
	}
	ts, err := parseTimestamp(tsRaw)
	if err != nil {
		return d, err
	}
	d.Timestamp = ts
	if _, err := ParseStaticSignatures(sig); err != nil {
		return d, err
	}
	// The library's own window is fixed at 5 minutes; ours is configurable.
	if err := checkWindow(ts, now, v.tolerance); err != nil {
		return d, err
	}
	// The library reads canonical keys with Header.Get; net/http and the
	// Lambda adapter already build those, other callers get a canonical copy.
	canon := h
	if !hasCanonicalKeys(h) {
		canon = http.Header{
			"Webhook-Id":        {id},
			"Webhook-Timestamp": {tsRaw},
			"Webhook-Signature": {sig},
		}
	}
	for _, wh := range v.hooks {
		if wh.VerifyIgnoringTimestamp(body, canon) == nil {
			// The id is named only once it is proven; see binding.go for the escape.
			d.ID = staticKey(id)
			return d, nil
		}
	}
	return d, fmt.Errorf("%w: no v1 signature matches any configured secret", core.ErrBadSignature)
}

func hasCanonicalKeys(h http.Header) bool {
	for _, k := range [...]string{"Webhook-Id", "Webhook-Timestamp", "Webhook-Signature"} {
		if len(h[k]) == 0 {
			return false
		}
	}
	return true
}
