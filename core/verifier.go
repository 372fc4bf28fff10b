package core

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/geminiwebhooks/receiver/core/internal/delivery"
)

// DefaultTolerance is the replay window Gemini's guide asks for.
const DefaultTolerance = 5 * time.Minute

// Delivery is what verification proves about a request.
type Delivery struct {
	ID        string    // idempotency key, set once verified: webhook-id (static), jwt:… from what the token binds (dynamic)
	Scheme    Scheme    // how it was signed
	Timestamp time.Time // when this attempt was signed
}

// Hint reports whether the delivery's signature proves only that Gemini
// sent something to this audience recently, not this body: a dynamic token
// that binds no delivery (no id, jti, body digest or signed event data).
// Nothing in such an event is trusted until the Gemini API confirms it; the
// built-in actions do so before the ledger, the landing or a handler acts,
// and set Event.Confirmed.
func (d Delivery) Hint() bool { return strings.HasPrefix(d.ID, delivery.HintKeyPrefix) }

// Verifier proves a request genuine and fresh. It returns errors wrapping
// ErrMissingHeaders, ErrMalformedHeaders (400) or ErrBadSignature,
// ErrOutsideWindow, ErrSchemeDisabled, ErrClaimMismatch (401). Build one
// with core/verify (New, then Verifier.Schemes): both of Gemini's schemes,
// several secrets, the replay window.
type Verifier interface {
	Verify(ctx context.Context, h http.Header, body []byte, now time.Time) (Delivery, error)
}
