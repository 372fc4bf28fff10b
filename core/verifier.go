package core

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultTolerance is the replay window Gemini's guide asks for.
const DefaultTolerance = 5 * time.Minute

// maxIDLength bounds the delivery id so a hostile header cannot bloat the store's keys.
const maxIDLength = 256

// Delivery is what verification proves about a request.
type Delivery struct {
	ID        string    // idempotency key, set once verified: webhook-id (static), jwt:… from what the token binds (dynamic); see binding.go
	Scheme    Scheme    // how it was signed
	Timestamp time.Time // when this attempt was signed
}

// Hint reports whether the delivery's signature proves only that Gemini
// sent something to this audience recently, not this body: a dynamic token
// that binds no delivery (no id, jti, body digest or signed event data).
// Nothing in such an event is trusted until the Gemini API confirms it; the
// built-in actions do so before the ledger, the landing or a handler acts,
// and set Event.Confirmed.
func (d Delivery) Hint() bool { return strings.HasPrefix(d.ID, HintKeyPrefix) }

// Verifier proves a request genuine and fresh. It returns errors wrapping
// ErrMissingHeaders, ErrMalformedHeaders (400) or ErrBadSignature,
// ErrOutsideWindow, ErrSchemeDisabled, ErrClaimMismatch (401).
type Verifier interface {
	Verify(ctx context.Context, h http.Header, body []byte, now time.Time) (Delivery, error)
}

// SchemeVerifier picks the scheme from the signature header's shape. A nil
// scheme is not configured and rejects its deliveries.
type SchemeVerifier struct {
	Static  Verifier
	Dynamic Verifier
}

func (v SchemeVerifier) Verify(ctx context.Context, h http.Header, body []byte, now time.Time) (Delivery, error) {
	scheme, err := DetectScheme(headerValue(h, HeaderSignature))
	if err != nil {
		return Delivery{}, err
	}
	var inner Verifier
	switch scheme {
	case SchemeStatic:
		inner = v.Static
	case SchemeDynamic:
		inner = v.Dynamic
	}
	if inner == nil {
		return Delivery{Scheme: scheme}, fmt.Errorf("%w: %s", ErrSchemeDisabled, scheme)
	}
	return inner.Verify(ctx, h, body, now)
}

// parseTimestamp reads webhook-timestamp: unix seconds, digits only.
func parseTimestamp(s string) (time.Time, error) {
	if s == "" || len(s) > 12 {
		return time.Time{}, fmt.Errorf("%w: webhook-timestamp is not unix seconds", ErrMalformedHeaders)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return time.Time{}, fmt.Errorf("%w: webhook-timestamp is not unix seconds", ErrMalformedHeaders)
		}
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: webhook-timestamp is not unix seconds", ErrMalformedHeaders)
	}
	return time.Unix(sec, 0), nil
}

// checkWindow enforces ±tolerance around now.
func checkWindow(ts, now time.Time, tolerance time.Duration) error {
	if d := now.Sub(ts); d > tolerance {
		return fmt.Errorf("%w: %s old", ErrOutsideWindow, d.Truncate(time.Second))
	} else if -d > tolerance {
		return fmt.Errorf("%w: %s in the future", ErrOutsideWindow, (-d).Truncate(time.Second))
	}
	return nil
}

func checkID(id string) error {
	if len(id) > maxIDLength {
		return fmt.Errorf("%w: webhook-id longer than %d bytes", ErrMalformedHeaders, maxIDLength)
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return fmt.Errorf("%w: webhook-id has non-printable characters", ErrMalformedHeaders)
		}
	}
	return nil
}
