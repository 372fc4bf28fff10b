package signature

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/internal/delivery"
)

// maxIDLength bounds the delivery id so a hostile header cannot bloat the store's keys.
const maxIDLength = 256

// SchemeVerifier picks the scheme from the signature header's shape. A nil
// scheme is not configured and rejects its deliveries.
// It is the core.Verifier a receiver is built with (core/verify builds it).
type SchemeVerifier struct {
	Static  core.Verifier
	Dynamic core.Verifier
}

// Verify checks the delivery with the verifier of its scheme.
func (v SchemeVerifier) Verify(ctx context.Context, h http.Header, body []byte, now time.Time) (core.Delivery, error) {
	scheme, err := DetectScheme(delivery.Header(h, delivery.HeaderSignature))
	if err != nil {
		return core.Delivery{}, err
	}
	var inner core.Verifier
	switch scheme {
	case core.SchemeStatic:
		inner = v.Static
	case core.SchemeDynamic:
		inner = v.Dynamic
	}
	if inner == nil {
		return core.Delivery{Scheme: scheme}, fmt.Errorf("%w: %s", core.ErrSchemeDisabled, scheme)
	}
	return inner.Verify(ctx, h, body, now)
}

// parseTimestamp reads webhook-timestamp: unix seconds, digits only.
func parseTimestamp(s string) (time.Time, error) {
	if s == "" || len(s) > 12 {
		return time.Time{}, fmt.Errorf("%w: webhook-timestamp is not unix seconds", core.ErrMalformedHeaders)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return time.Time{}, fmt.Errorf("%w: webhook-timestamp is not unix seconds", core.ErrMalformedHeaders)
		}
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: webhook-timestamp is not unix seconds", core.ErrMalformedHeaders)
	}
	return time.Unix(sec, 0), nil
}

// checkWindow enforces ±tolerance around now.
func checkWindow(ts, now time.Time, tolerance time.Duration) error {
	if d := now.Sub(ts); d > tolerance {
		return fmt.Errorf("%w: %s old", core.ErrOutsideWindow, d.Truncate(time.Second))
	} else if -d > tolerance {
		return fmt.Errorf("%w: %s in the future", core.ErrOutsideWindow, (-d).Truncate(time.Second))
	}
	return nil
}

func checkID(id string) error {
	if len(id) > maxIDLength {
		return fmt.Errorf("%w: webhook-id longer than %d bytes", core.ErrMalformedHeaders, maxIDLength)
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return fmt.Errorf("%w: webhook-id has non-printable characters", core.ErrMalformedHeaders)
		}
	}
	return nil
}
