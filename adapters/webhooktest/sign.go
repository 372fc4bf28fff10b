package webhooktest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/scripts/simulator/gemini"
)

// Signer signs a delivery: the webhook-id, webhook-timestamp and
// webhook-signature headers for body sent at at.
type Signer interface {
	Sign(id string, at time.Time, body []byte) (http.Header, error)
}

// NewSecret makes a random whsec_ secret, as Gemini issues them.
func NewSecret() string { return gemini.NewSecret() }

// Static signs static deliveries with secret (whsec_…; several, comma
// separated, sign with each, as during a rotation), per Standard Webhooks.
func Static(secret string) Signer { return gemini.StaticSigner{Secret: secret} }

// SignStatic returns the headers of a static delivery of body with id,
// signed with secret at at.
func SignStatic(secret, id string, at time.Time, body []byte) (http.Header, error) {
	return gemini.SignStatic(secret, id, at, body)
}

// JWTSigner signs dynamic deliveries as Gemini does for a job's
// webhook_config: an RS256 token in webhook-signature, with its own RSA key,
// whose key set it serves on loopback at JWKSURL. Point the receiver's
// WEBHOOK_JWKS_URL, WEBHOOK_AUDIENCE and WEBHOOK_ISSUER at it.
type JWTSigner struct {
	Audience, Issuer, JWKSURL string

	s *gemini.JWTSigner
}

// defaultIssuer is the iss of the kit's tokens.
const defaultIssuer = "https://generativelanguage.googleapis.com"

// NewJWTSigner makes a key and serves its JWKS until ctx ends.
func NewJWTSigner(ctx context.Context, audience string) (*JWTSigner, error) {
	s, err := gemini.NewJWTSigner(audience, defaultIssuer)
	if err != nil {
		return nil, err
	}
	url, err := s.ServeJWKS(ctx, "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	return &JWTSigner{Audience: audience, Issuer: defaultIssuer, JWKSURL: url, s: s}, nil
}

// Sign returns the headers of a dynamic delivery: the token, bound to id and
// to the body's digest, and webhook-id and webhook-timestamp beside it.
func (j *JWTSigner) Sign(id string, at time.Time, body []byte) (http.Header, error) {
	return j.s.Sign(id, at, body)
}

// NewRequest is ev as an HTTP POST to url, signed by s now: what a
// receiver's http.Handler gets from Gemini.
func NewRequest(t testing.TB, url string, s Signer, ev Event) *http.Request {
	t.Helper()
	req, err := newRequest(url, s, ev, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func newRequest(url string, s Signer, ev Event, at time.Time) (*http.Request, error) {
	h, err := s.Sign(ev.ID, at, ev.Body)
	if err != nil {
		return nil, fmt.Errorf("webhooktest: sign %s: %w", ev.Type, err)
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(ev.Body))
	if err != nil {
		return nil, err
	}
	req.Header = h
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}
