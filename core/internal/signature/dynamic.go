package signature

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/internal/delivery"
	"github.com/golang-jwt/jwt/v5"
)

// Claims that, when a token carries them, describe the delivery and must
// match the request. Gemini does not document its claim set, so we accept the
// common spellings and never trust the unsigned webhook-id header when the
// token names the delivery itself.
var (
	idClaims     = []string{"webhook_id", "webhook-id", "delivery_id"}
	digestClaims = []string{"body_sha256", "payload_sha256", "body_hash", "sha256"}
)

// DynamicConfig configures RS256 token verification.
type DynamicConfig struct {
	Audience  string        // required: the aud the user configured
	Issuer    string        // checked when set
	Tolerance time.Duration // replay window for iat (default 5m)
	// Keys resolves a key by kid, normally a JWKS built once per process (see NewJWKS).
	Keys KeySource
}

// KeySource resolves a token's verification key within ctx. *JWKS and
// keyfunc.Keyfunc both satisfy it.
type KeySource interface {
	KeyfuncCtx(ctx context.Context) jwt.Keyfunc
}

// DynamicVerifier checks Gemini's per-job webhook tokens.
type DynamicVerifier struct {
	cfg  DynamicConfig
	opts []jwt.ParserOption
}

// NewDynamicVerifier checks cfg (Audience and Keys are required) and applies its defaults.
func NewDynamicVerifier(cfg DynamicConfig) (*DynamicVerifier, error) {
	if cfg.Audience == "" {
		return nil, errors.New("dynamic verifier: audience is required")
	}
	if cfg.Keys == nil {
		return nil, errors.New("dynamic verifier: no key source")
	}
	if cfg.Tolerance <= 0 {
		cfg.Tolerance = core.DefaultTolerance
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{"RS256"}), // no none, no HS256 keyed with the public key
		jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(30 * time.Second), // clock skew between Google and us
		// Canonical base64 only: the token's hash may be its idempotency key,
		// and lax decoding would let one signature be spelled several ways.
		jwt.WithStrictDecoding(),
		// Numbers stay exact, so a signed event compares with the body's.
		jwt.WithJSONNumber(),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	return &DynamicVerifier{cfg: cfg, opts: opts}, nil
}

func (v *DynamicVerifier) Verify(ctx context.Context, h http.Header, body []byte, now time.Time) (core.Delivery, error) {
	// d.ID stays empty until the token has verified: an unsigned header never
	// names a dynamic delivery, and an unverified value is not echoed.
	d := core.Delivery{Scheme: core.SchemeDynamic}
	token := strings.TrimPrefix(strings.TrimSpace(delivery.Header(h, delivery.HeaderSignature)), "Bearer ")
	if token == "" {
		return d, fmt.Errorf("%w: webhook-signature", core.ErrMissingHeaders)
	}
	hdrID := delivery.Header(h, delivery.HeaderID)
	if hdrID != "" {
		if err := checkID(hdrID); err != nil {
			return d, err
		}
	}
	if tsRaw := delivery.Header(h, delivery.HeaderTimestamp); tsRaw != "" {
		ts, err := parseTimestamp(tsRaw)
		if err != nil {
			return d, err
		}
		if err := checkWindow(ts, now, v.cfg.Tolerance); err != nil {
			return d, err
		}
	}

	claims := jwt.MapClaims{}
	keys := v.cfg.Keys.KeyfuncCtx(ctx)
	// The parser is cheap; one per call lets verification use the caller's clock.
	parser := jwt.NewParser(append(v.opts[:len(v.opts):len(v.opts)], jwt.WithTimeFunc(func() time.Time { return now }))...)
	_, err := parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		if err := checkCrit(t); err != nil {
			return nil, err
		}
		// A token without kid would be tried against every key in the set.
		kid, ok := t.Header["kid"].(string)
		if !ok || kid == "" {
			return nil, errors.New("token has no kid")
		}
		return keys(t)
	})
	if err != nil {
		return d, fmt.Errorf("%w: %s", core.ErrBadSignature, tokenReason(err))
	}

	iat, err := claims.GetIssuedAt()
	if err != nil || iat == nil {
		return d, fmt.Errorf("%w: token has no iat", core.ErrBadSignature)
	}
	d.Timestamp = iat.Time
	if now.Sub(iat.Time) > v.cfg.Tolerance {
		return d, fmt.Errorf("%w: token issued %s ago", core.ErrOutsideWindow, now.Sub(iat.Time).Truncate(time.Second))
	}

	id, hasID := stringClaim(claims, idClaims)
	if hasID {
		if err := checkID(id); err != nil {
			return d, err
		}
		if hdrID != "" && hdrID != id {
			return d, fmt.Errorf("%w: webhook-id header differs from the token's id", core.ErrClaimMismatch)
		}
	}
	digest, bodyBound := stringClaim(claims, digestClaims)
	if bodyBound && !digestMatches(digest, body) {
		return d, fmt.Errorf("%w: body digest", core.ErrClaimMismatch)
	}
	dataBound, err := checkEventClaims(claims, body)
	if err != nil {
		return d, err
	}
	// The key comes from what the token signs when it binds the delivery
	// (binding.go): replaying it is the same delivery whatever body or
	// header comes with it, so the store answers duplicate (same body) or
	// conflict (another body). A token that binds nothing keys its
	// deliveries by webhook-id or body, and marks them hints.
	d.ID = dynamicKey(claims, id, token, bodyBound || dataBound, hdrID, body)
	return d, nil
}

func stringClaim(c jwt.MapClaims, names []string) (string, bool) {
	for _, n := range names {
		if s, ok := c[n].(string); ok && s != "" {
			return s, true
		}
	}
	return "", false
}

// digestMatches accepts a SHA-256 in hex, base64 or base64url, with or without a "sha256=" prefix.
func digestMatches(claim string, body []byte) bool {
	claim = strings.TrimPrefix(strings.TrimPrefix(claim, "sha256="), "sha256:")
	sum := sha256.Sum256(body)
	for _, dec := range []func(string) ([]byte, error){
		hex.DecodeString,
		base64.StdEncoding.DecodeString,
		base64.RawURLEncoding.DecodeString,
		base64.URLEncoding.DecodeString,
		base64.RawStdEncoding.DecodeString,
	} {
		if b, err := dec(claim); err == nil && len(b) == sha256.Size {
			return subtle.ConstantTimeCompare(b, sum[:]) == 1
		}
	}
	return false
}

// tokenReason gives a short, token-free reason for the log line.
func tokenReason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed token"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "invalid token signature or algorithm"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "token expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "token not valid yet"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "wrong audience"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "wrong issuer"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "required claim missing"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "no key for token: " + unverifiableCause(err)
	}
	return "invalid token"
}

func unverifiableCause(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "critical header"):
		return "unsupported critical header"
	case strings.Contains(msg, "no kid"):
		return "no kid"
	case strings.Contains(msg, "not found"), strings.Contains(msg, "rate limiter"):
		return "unknown kid"
	case strings.Contains(msg, "JWKS not loaded"):
		return "JWKS not loaded yet"
	}
	return "key lookup failed"
}
