// Package verify proves a Gemini API webhook delivery genuine and fresh in
// any net/http server (chi, Cloud Run, your own mux), without this module's
// receiver: one call takes the request and returns the verified event, or an
// error that errors.Is matches against one of the sentinels below.
//
//	v, err := verify.New(ctx, verify.Config{
//		Secrets:  []string{os.Getenv("WEBHOOK_SIGNING_SECRET")}, // static webhooks
//		Audience: "https://example.com/webhook",                 // dynamic (per-job) webhooks
//	})
//	...
//	http.HandleFunc("POST /webhook", func(w http.ResponseWriter, r *http.Request) {
//		ev, err := v.Request(r)
//		if err != nil { // a hint, too, stops here unless you handle ErrHint (below)
//			http.Error(w, err.Error(), http.StatusUnauthorized) // Gemini retries
//			return
//		}
//		// ev.Type, ev.Data, ev.JobID(); ev.Delivery.ID is the idempotency key
//	})
//
// Both of Gemini's schemes are checked; each is on when configured:
//
//   - Static webhooks (a project's WebhookService subscription) are signed
//     as Standard Webhooks: webhook-id, webhook-timestamp and
//     webhook-signature carry an HMAC-SHA256 over the id, the timestamp and
//     the body, keyed with a whsec_ secret. Several secrets may be given:
//     during a rotation Gemini keeps the previous one valid for 24 hours.
//   - Dynamic webhooks (a job's webhook_config) carry an RS256 JWT in
//     webhook-signature, checked against Google's published key set (JWKS),
//     the audience you configured and, when set, the issuer.
//
// Either way the timestamp must lie within Tolerance (default ±5 minutes)
// of now; older or newer deliveries are refused as replays.
//
// # Dynamic tokens that bind nothing: the body is a hint
//
// A static signature covers the body. A dynamic token covers the body only
// when it binds the delivery: a delivery-id claim, a jti, a body-digest
// claim, or the event's data signed in the token. Gemini documents no such
// claim, and a token may be reused for many deliveries, so a token that
// binds nothing proves only that Gemini sent something to this audience
// recently, not what it sent: anyone who captured one could put another
// body under it. For such a delivery Verify, Event and Request return the
// result together with an error matching ErrHint. Treat that body as a
// hint: read the job it names (Event.JobID) from the Gemini API and act on
// what the API says, never on the body's output_file_uri, error or
// metadata. Code that stops at any non-nil error is safe by default.
//
// This package checks signatures only; it does not remember deliveries.
// Gemini delivers at least once, so a verified delivery may arrive again:
// deduplicate on Delivery.ID (the idempotency key, which a retry keeps)
// or use this module's receiver, which does.
package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/internal/signature"
)

// The errors Verify, Event and Request return wrap one of these; they are
// core's sentinels, so errors.Is matches either name.
var (
	// ErrMissingHeaders: webhook-signature, or for a static delivery
	// webhook-id or webhook-timestamp, is absent. Answer 400.
	ErrMissingHeaders = core.ErrMissingHeaders
	// ErrMalformedHeaders: a webhook header is present but cannot be parsed. Answer 400.
	ErrMalformedHeaders = core.ErrMalformedHeaders
	// ErrBadSignature: no signature matches any secret, or the token does
	// not verify (key, algorithm, audience, issuer, expiry). Answer 401.
	ErrBadSignature = core.ErrBadSignature
	// ErrOutsideWindow: the delivery was signed outside the tolerance. Answer 401.
	ErrOutsideWindow = core.ErrOutsideWindow
	// ErrSchemeDisabled: the delivery uses a scheme this Verifier has no
	// configuration for (a JWT without an Audience, an HMAC signature
	// without Secrets; every delivery for the zero Verifier). Answer 401.
	ErrSchemeDisabled = core.ErrSchemeDisabled
	// ErrClaimMismatch: the token signs a delivery id, body digest or event
	// that differs from the request's. Answer 401.
	ErrClaimMismatch = core.ErrClaimMismatch
	// ErrBodyTooLarge: the body is over MaxBodyBytes. Answer 413.
	ErrBodyTooLarge = core.ErrBodyTooLarge
	// ErrNotUnderstood: the signature verified, but the body is not a v1
	// event envelope (Event and Request only). Gemini retries anything but
	// a 2xx for a day, so answer 2xx once you have kept it if you want no
	// retries.
	ErrNotUnderstood = core.ErrNotUnderstood
)

// ErrHint is returned together with a result: the delivery's dynamic token
// binds nothing, so its body is not proven (see the package documentation).
// The result's Delivery.Hint reports the same.
var ErrHint = errors.New("dynamic token binds nothing: the body is an unverified hint")

// ErrNoScheme: New was given neither Secrets nor an Audience.
var ErrNoScheme = errors.New("verify: no scheme configured (set Secrets, Audience or both)")

// Config configures a Verifier. The zero value of every field but Secrets
// and Audience takes the default noted; at least one of those two is needed.
type Config struct {
	// Secrets turns the static scheme on: whsec_ secrets, any of which may
	// sign. An entry may itself list several, comma or space separated (as
	// in WEBHOOK_SIGNING_SECRET); blank entries are ignored, so an unset
	// variable leaves the static scheme off.
	Secrets []string

	// Audience turns the dynamic scheme on: the aud the token must carry,
	// as you configured it (often the endpoint's URL).
	Audience string
	// JWKSURL is where the token keys are published; default DefaultJWKSURL (Google's).
	JWKSURL string
	// Issuer, when set, is the iss the token must carry.
	Issuer string
	// HTTPClient fetches the key set; default a client with a 5 s timeout.
	HTTPClient *http.Client
	// Logger reports key set fetch failures; default slog.Default().
	Logger *slog.Logger

	// Tolerance is the replay window around now; default core.DefaultTolerance (5 minutes).
	Tolerance time.Duration
	// MaxBodyBytes caps the body Request reads; default core.DefaultMaxBodyBytes (1 MiB).
	MaxBodyBytes int64
	// Now is the clock deliveries are checked against; default time.Now.
	Now func() time.Time
}

// withDefaults is the one place Config's defaults are applied.
func (c Config) withDefaults() Config {
	if c.JWKSURL == "" {
		c.JWKSURL = DefaultJWKSURL
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Tolerance <= 0 {
		c.Tolerance = core.DefaultTolerance
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = core.DefaultMaxBodyBytes
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Verifier checks deliveries against one configuration; build it once per
// process with New (the dynamic scheme keeps the key set it fetched) and
// use it from any number of goroutines. The zero Verifier, and a nil one,
// refuse every delivery with ErrSchemeDisabled (or ErrMissingHeaders,
// ErrMalformedHeaders when the signature header is absent or unreadable).
type Verifier struct {
	cfg     Config
	schemes signature.SchemeVerifier
}

// New checks cfg and builds its verifiers: a secret that is not a valid
// whsec_ secret is refused here, naming its position, never its value.
// With an Audience it starts fetching the key set in the background (a
// request that arrives first waits for it within its own deadline); ctx
// ends the key set's periodic refresh.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	cfg = cfg.withDefaults()
	v := &Verifier{cfg: cfg}
	// Blank entries are no secret: an unset variable leaves the scheme off.
	if joined := strings.Join(cfg.Secrets, " "); strings.Trim(joined, ", \t\r\n") != "" {
		secrets, err := signature.ParseSecrets(joined)
		if err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
		s, err := signature.NewStaticVerifier(secrets, cfg.Tolerance)
		if err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
		v.schemes.Static = s
	}
	if cfg.Audience != "" {
		keys := signature.NewJWKS(ctx, cfg.JWKSURL, signature.JWKSOptions{Client: cfg.HTTPClient, Logger: cfg.Logger})
		d, err := signature.NewDynamicVerifier(signature.DynamicConfig{
			Audience: cfg.Audience, Issuer: cfg.Issuer, Tolerance: cfg.Tolerance, Keys: keys,
		})
		if err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
		v.schemes.Dynamic = d
	}
	if v.schemes.Static == nil && v.schemes.Dynamic == nil {
		return nil, ErrNoScheme
	}
	return v, nil
}

// config is the Verifier's configuration, with the defaults for a zero Verifier.
func (v *Verifier) config() Config {
	if v == nil {
		return Config{}.withDefaults()
	}
	return v.cfg.withDefaults()
}

// Schemes is the core.Verifier behind v, for core.ReceiverOptions: a
// receiver built with it verifies exactly as v does (this module's
// runtimes build theirs so). It checks against the clock it is given, not
// Config.Now.
func (v *Verifier) Schemes() core.Verifier {
	if v == nil {
		return signature.SchemeVerifier{}
	}
	return v.schemes
}

// Verify checks one delivery's headers (any key case: net/http's canonical
// keys and a Lambda event's lower-case ones both work) against its raw
// body, exactly as received. It returns what the signature proves: the
// delivery's idempotency key (ID), scheme and signing time. For a dynamic
// token that binds nothing it returns the delivery and an error matching
// ErrHint. On any other error the delivery holds at most its Scheme.
func (v *Verifier) Verify(ctx context.Context, header http.Header, body []byte) (core.Delivery, error) {
	d, err := v.Schemes().Verify(ctx, header, body, v.config().Now())
	if err != nil {
		d.ID = "" // only a proven id is returned
		return d, err
	}
	if d.Hint() {
		return d, ErrHint
	}
	return d, nil
}

// Event is Verify followed by parsing the verified body as Gemini's event
// envelope (unknown event types pass; batch.completed reads as
// batch.succeeded). The event's Delivery and Raw (the body) are set. A
// body that verifies but is not an envelope fails with ErrNotUnderstood;
// a hint returns the event and an error matching ErrHint.
func (v *Verifier) Event(ctx context.Context, header http.Header, body []byte) (*core.Event, error) {
	d, verr := v.Verify(ctx, header, body)
	if verr != nil && !errors.Is(verr, ErrHint) {
		return nil, verr
	}
	ev, err := core.ParseEvent(body)
	if err != nil {
		return nil, err
	}
	ev.Delivery = d
	return ev, verr
}

// Request reads r's body (at most MaxBodyBytes) and returns Event for it,
// bounded by r's context. The body is consumed; the event's Raw holds it.
func (v *Verifier) Request(r *http.Request) (*core.Event, error) {
	body, err := core.ReadBody(r.Body, r.ContentLength, v.config().MaxBodyBytes)
	if err != nil {
		return nil, err
	}
	return v.Event(r.Context(), r.Header, body)
}
