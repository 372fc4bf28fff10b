package signature

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// DefaultJWKSURL is where Google publishes the keys of dynamic webhook tokens.
const DefaultJWKSURL = "https://generativelanguage.googleapis.com/.well-known/jwks.json"

// Defaults of JWKSOptions.
const (
	defaultJWKSTimeout     = 5 * time.Second
	defaultUnknownKIDEvery = 30 * time.Second
)

// JWKSOptions tune the key set client. Zero values take the defaults below.
type JWKSOptions struct {
	HTTPTimeout time.Duration // per fetch; default 5s (keyfunc's is a minute)
	// UnknownKIDEvery limits refetches for a kid we do not know: at most one
	// per interval, whatever the traffic (no fetch storm from random kids), yet
	// short enough that a cold start during a JWKS outage recovers within it
	// once the endpoint is back. Default 30s.
	UnknownKIDEvery time.Duration
	RefreshInterval time.Duration // background refresh; default 1h
	Client          *http.Client
	Logger          *slog.Logger
}

// JWKS is a key set built once per process. Its first fetch runs in the
// background so that nothing at start-up waits on Google; a token that
// arrives before the keys are in waits for them within its request's deadline.
type JWKS struct {
	ready chan struct{}
	kf    keyfunc.Keyfunc
	err   error
}

// NewJWKS starts loading the key set at url; ctx ends its refresh goroutine.
func NewJWKS(ctx context.Context, url string, o JWKSOptions) *JWKS {
	if o.HTTPTimeout <= 0 {
		o.HTTPTimeout = defaultJWKSTimeout
	}
	if o.UnknownKIDEvery <= 0 {
		o.UnknownKIDEvery = defaultUnknownKIDEvery
	}
	if o.RefreshInterval <= 0 {
		o.RefreshInterval = time.Hour
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.HTTPTimeout}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	j := &JWKS{ready: make(chan struct{})}
	go func() {
		defer close(j.ready)
		noErr := true
		j.kf, j.err = keyfunc.NewDefaultOverrideCtx(ctx, []string{url}, keyfunc.Override{
			Client:                    o.Client,
			HTTPTimeout:               o.HTTPTimeout,
			NoErrorReturnFirstHTTPReq: &noErr, // a JWKS outage at start must not stop the receiver
			RefreshInterval:           o.RefreshInterval,
			RefreshUnknownKID:         rate.NewLimiter(rate.Every(o.UnknownKIDEvery), 1),
			// Waiting longer than one fetch for the limiter would hold requests;
			// the limiter answers "no" at once when its next slot is further away.
			RateLimitWaitMax: o.HTTPTimeout,
			RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
				return func(ctx context.Context, err error) {
					o.Logger.WarnContext(ctx, "jwks fetch failed", "url", u, "error", err.Error())
				}
			},
		})
		if j.err != nil {
			j.err = fmt.Errorf("jwks: %w", j.err)
		}
	}()
	return j
}

// Keyfunc resolves a token's key by kid.
func (j *JWKS) Keyfunc(t *jwt.Token) (any, error) {
	<-j.ready
	if j.err != nil {
		return nil, j.err
	}
	return j.kf.Keyfunc(t)
}

// KeyfuncCtx is Keyfunc bounded by ctx (the request's deadline).
func (j *JWKS) KeyfuncCtx(ctx context.Context) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		select {
		case <-j.ready:
		case <-ctx.Done():
			return nil, errors.New("JWKS not loaded yet")
		}
		if j.err != nil {
			return nil, j.err
		}
		return j.kf.KeyfuncCtx(ctx)(t)
	}
}
