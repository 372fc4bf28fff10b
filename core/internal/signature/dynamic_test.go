package signature

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/internal/delivery"
	"github.com/geminiwebhooks/receiver/core/internal/signature/sigtest"
	"github.com/golang-jwt/jwt/v5"
)

// The keys of every dynamic case: Google's, an attacker's, Google's next.
var googleKey, rogue, rotatedGoogleKey = sigtest.Keys()

func dynHeaders(token string) http.Header {
	h := http.Header{}
	h.Set(delivery.HeaderSignature, token)
	return h
}

func newTestDynamic(t testing.TB, srv *sigtest.JWKSServer, every time.Duration, issuer string) *DynamicVerifier {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	jwks := NewJWKS(ctx, srv.URL, JWKSOptions{HTTPTimeout: 2 * time.Second, UnknownKIDEvery: every})
	v, err := NewDynamicVerifier(DynamicConfig{Audience: sigtest.Audience, Issuer: issuer, Keys: jwks})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestDynamicVerify(t *testing.T) {
	srv := sigtest.NewJWKSServer(t, map[string]*rsa.PublicKey{"k1": &googleKey.PublicKey})
	v := newTestDynamic(t, srv, time.Hour, "https://generativelanguage.googleapis.com")
	now := time.Now()
	body := []byte(`{"type":"batch.succeeded","version":"v1","data":{"id":"batches/9"}}`)
	pubDER, _ := x509.MarshalPKIXPublicKey(&googleKey.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})

	with := func(mut func(jwt.MapClaims)) jwt.MapClaims {
		c := sigtest.BaseClaims(now, body)
		mut(c)
		return c
	}
	tests := []struct {
		name    string
		token   func() string
		header  func(h http.Header)
		body    []byte
		wantErr error
		wantID  string
	}{
		{name: "valid", token: func() string {
			return sigtest.SignToken(t, jwt.SigningMethodRS256, googleKey, "k1", sigtest.BaseClaims(now, body))
		}, wantID: "jwt:id:evt_123"},
		{name: "bearer prefix", token: func() string {
			return "Bearer " + sigtest.SignToken(t, jwt.SigningMethodRS256, googleKey, "k1", sigtest.BaseClaims(now, body))
		}, wantID: "jwt:id:evt_123"},
		{name: "alg none", token: func() string {
			return sigtest.SignToken(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "k1", sigtest.BaseClaims(now, body))
		}, wantErr: core.ErrBadSignature},
		{name: "HS256 keyed with the RSA public key", token: func() string {
			return sigtest.SignToken(t, jwt.SigningMethodHS256, pubPEM, "k1", sigtest.BaseClaims(now, body))
		}, wantErr: core.ErrBadSignature},
		{name: "RS512 not allowed", token: func() string {
			return sigtest.SignToken(t, jwt.SigningMethodRS512, googleKey, "k1", sigtest.BaseClaims(now, body))
		}, wantErr: core.ErrBadSignature},
		{name: "wrong audience", token: func() string {
			return sigtest.SignToken(t, jwt.SigningMethodRS256, googleKey, "k1", with(func(c jwt.MapClaims) { c["aud"] = "https://attacker.example" }))
		}, wantErr: core.ErrBadSignature},
		{name: "no audience", token: func() string {
			return sigtest.SignToken(t, jwt.SigningMethodRS256, googleKey, "k1", with(func(c jwt.MapClaims) { delete(c, "aud") }))
		}, wantErr: core.ErrBadSignature},
		{name: "wrong issuer", token: func() string {
			return sigtest.SignToken(t, jwt.SigningMethodRS256, googleKey, "k1", with(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }))
		}, wantErr: core.ErrBadSignature},
		{name: "expired", token: func() string {
			return sigtest.SignToken(t, jwt.SigningMethodRS256, googleKey, "k1", with(func(c jwt.MapClaims) {
				c["iat"] = now.Add(-2 * time.Minute).Unix()
				c["exp"] = now.Add(-time.Minute).Unix()
			}))
		}, wantErr: core.ErrBadSignature},
		{name: "no exp", token: func() string {
			return sigtest.SignToken(t, jwt.SigningMethodRS256, googleKey, "k1", with(func(c jwt.MapClaims) { delete(c, "exp") }))
		}, wantErr: core.ErrBadSignature},
		{name: "too old (iat outside window, not expired)", token: func() string {
			return sigtest.SignToken(t, jwt.SigningMethodRS256, googleKey, "k1", with(func(c jwt.MapClaims) {
				c["iat"] = now.Add(-6 * time.Minute).Unix()
				c["exp"] = now.Add(time.Hour).Unix()
			}))
		}, wantErr: core.ErrOutsideWindow},
		{name: "no iat", token: func() string {
			return sigtest.SignToken(t, jwt.SigningMethodRS256, googleKey, "k1", with(func(c jwt.MapClaims) { delete(c, "iat") }))
		}, wantErr: core.ErrBadSignature},
		{name: "issued in the future", token: func() string {
			return sigtest.SignToken(t, jwt.SigningMethodRS256, googleKey, "k1", with(func(c jwt.MapClaims) { c["iat"] = now.Add(10 * time.Minute).Unix() }))
		}, wantErr: core.ErrBadSignature},
		{name: "no kid", token: func() string {
			return sigtest.SignToken(t, jwt.SigningMethodRS256, googleKey, "", sigtest.BaseClaims(now, body))
		}, wantErr: core.ErrBadSignature},
		{name: "foreign key with a known kid", token: func() string {
			return sigtest.SignToken(t, jwt.SigningMethodRS256, rogue, "k1", sigtest.BaseClaims(now, body))
		}, wantErr: core.ErrBadSignature},
		{name: "header id differs from token id", token: func() string {
			return sigtest.SignToken(t, jwt.SigningMethodRS256, googleKey, "k1", sigtest.BaseClaims(now, body))
		},
			header: func(h http.Header) { h.Set(delivery.HeaderID, "evt_other") }, wantErr: core.ErrClaimMismatch},
		{name: "header id equal to token id", token: func() string {
			return sigtest.SignToken(t, jwt.SigningMethodRS256, googleKey, "k1", sigtest.BaseClaims(now, body))
		},
			header: func(h http.Header) { h.Set(delivery.HeaderID, "evt_123") }, wantID: "jwt:id:evt_123"},
		{name: "body digest mismatch", token: func() string {
			return sigtest.SignToken(t, jwt.SigningMethodRS256, googleKey, "k1", sigtest.BaseClaims(now, body))
		},
			body: []byte(`{"type":"batch.succeeded","version":"v1","data":{"id":"batches/EVIL"}}`), wantErr: core.ErrClaimMismatch},
		{name: "hex digest accepted", token: func() string {
			return sigtest.SignToken(t, jwt.SigningMethodRS256, googleKey, "k1", with(func(c jwt.MapClaims) {
				sum := sha256.Sum256(body)
				c["body_sha256"] = strings.ToUpper(hexString(sum[:]))
			}))
		}, wantID: "jwt:id:evt_123"},
		// The unsigned header never names a dynamic delivery (issue 13, finding 1).
		{name: "no id claim: the token, not the header, is the key", token: func() string {
			return sigtest.SignToken(t, jwt.SigningMethodRS256, googleKey, "k1", with(func(c jwt.MapClaims) { delete(c, "webhook_id") }))
		}, header: func(h http.Header) { h.Set(delivery.HeaderID, "msg_hdr") }, wantID: "jwt:sha256:*"},
		// Issue 21: a token that binds nothing keys its delivery as a hint.
		{name: "binds nothing, webhook-id header: hint keyed by the header", token: func() string {
			return sigtest.SignToken(t, jwt.SigningMethodRS256, googleKey, "k1", with(func(c jwt.MapClaims) { delete(c, "webhook_id"); delete(c, "body_sha256") }))
		}, header: func(h http.Header) { h.Set(delivery.HeaderID, "msg_hdr") }, wantID: "jwt:hint:id:msg_hdr"},
		{name: "binds nothing, no header: hint keyed by the body", token: func() string {
			return sigtest.SignToken(t, jwt.SigningMethodRS256, googleKey, "k1", with(func(c jwt.MapClaims) { delete(c, "webhook_id"); delete(c, "body_sha256") }))
		}, wantID: "jwt:hint:sha256:" + hexString(sha256Of(body))},
		{name: "signs the event's type only: a hint", token: func() string {
			return sigtest.SignToken(t, jwt.SigningMethodRS256, googleKey, "k1", with(func(c jwt.MapClaims) {
				delete(c, "webhook_id")
				delete(c, "body_sha256")
				c["type"] = "batch.succeeded"
			}))
		}, wantID: "jwt:hint:sha256:*"},
		{name: "signs the event's data: the token is the key", token: func() string {
			return sigtest.SignToken(t, jwt.SigningMethodRS256, googleKey, "k1", with(func(c jwt.MapClaims) {
				delete(c, "webhook_id")
				delete(c, "body_sha256")
				c["event"] = map[string]any{"type": "batch.succeeded", "data": map[string]any{"id": "batches/9"}}
			}))
		}, header: func(h http.Header) { h.Set(delivery.HeaderID, "msg_hdr") }, wantID: "jwt:sha256:*"},
		{name: "stale webhook-timestamp header", token: func() string {
			return sigtest.SignToken(t, jwt.SigningMethodRS256, googleKey, "k1", sigtest.BaseClaims(now, body))
		},
			header: func(h http.Header) { h.Set(delivery.HeaderTimestamp, "1000") }, wantErr: core.ErrOutsideWindow},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := dynHeaders(tc.token())
			if tc.header != nil {
				tc.header(h)
			}
			b := body
			if tc.body != nil {
				b = tc.body
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			d, err := SchemeVerifier{Dynamic: v}.Verify(ctx, h, b, now)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			idOK := d.ID == tc.wantID
			if p, ok := strings.CutSuffix(tc.wantID, "*"); ok {
				idOK = strings.HasPrefix(d.ID, p)
			}
			if err == nil && (!idOK || d.Scheme != core.SchemeDynamic) {
				t.Fatalf("delivery = %+v, want id %q", d, tc.wantID)
			}
			if err != nil && strings.Contains(err.Error(), strings.TrimPrefix(tc.token(), "Bearer ")[:20]) {
				t.Fatalf("error leaks the token: %v", err)
			}
		})
	}
}

func sha256Of(b []byte) []byte {
	sum := sha256.Sum256(b)
	return sum[:]
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func TestDynamicSchemeNotConfigured(t *testing.T) {
	tok := sigtest.SignToken(t, jwt.SigningMethodRS256, googleKey, "k1", sigtest.BaseClaims(time.Now(), nil))
	_, err := SchemeVerifier{Static: &StaticVerifier{}}.Verify(context.Background(), dynHeaders(tok), nil, time.Now())
	if !errors.Is(err, core.ErrSchemeDisabled) {
		t.Fatalf("err = %v, want core.ErrSchemeDisabled", err)
	}
	h := vectorHeaders()
	_, err = SchemeVerifier{Dynamic: &DynamicVerifier{}}.Verify(context.Background(), h, []byte(vectorBody), time.Unix(vectorTS, 0))
	if !errors.Is(err, core.ErrSchemeDisabled) {
		t.Fatalf("err = %v, want core.ErrSchemeDisabled", err)
	}
}

// A flood of tokens with random kids must not turn into a flood of JWKS
// fetches: the unknown-kid limiter allows one refetch per interval.
func TestDynamicUnknownKIDFlood(t *testing.T) {
	srv := sigtest.NewJWKSServer(t, map[string]*rsa.PublicKey{"k1": &googleKey.PublicKey})
	v := newTestDynamic(t, srv, 30*time.Second, "")
	now := time.Now()
	// The first, valid token waits for the initial fetch.
	if _, err := v.Verify(context.Background(), dynHeaders(sigtest.SignToken(t, jwt.SigningMethodRS256, googleKey, "k1", sigtest.BaseClaims(now, nil))), nil, now); err != nil {
		t.Fatal(err)
	}
	before := srv.Fetches.Load()
	var wg sync.WaitGroup
	var rejected atomic.Int64
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			kid := "random-" + big.NewInt(int64(i)).String()
			tok := sigtest.SignToken(t, jwt.SigningMethodRS256, rogue, kid, sigtest.BaseClaims(now, nil))
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			if _, err := v.Verify(ctx, dynHeaders(tok), nil, now); errors.Is(err, core.ErrBadSignature) {
				rejected.Add(1)
			}
		}(i)
	}
	wg.Wait()
	if rejected.Load() != 200 {
		t.Fatalf("rejected %d of 200 random-kid tokens", rejected.Load())
	}
	if extra := srv.Fetches.Load() - before; extra > 1 {
		t.Fatalf("200 unknown kids caused %d JWKS fetches, want at most 1", extra)
	}
	// A key Google really rotated in is picked up once the interval allows.
	t.Logf("JWKS fetches: %d before flood, %d after", before, srv.Fetches.Load())
}

// A cold start while the JWKS endpoint is down must recover once it is back,
// within one unknown-kid interval (30 s by default; shortened here).
func TestDynamicJWKSDownAtStart(t *testing.T) {
	srv := sigtest.NewJWKSServer(t, map[string]*rsa.PublicKey{"k1": &googleKey.PublicKey})
	srv.Down.Store(true)
	v := newTestDynamic(t, srv, 300*time.Millisecond, "")
	now := time.Now()
	tok := sigtest.SignToken(t, jwt.SigningMethodRS256, googleKey, "k1", sigtest.BaseClaims(now, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := v.Verify(ctx, dynHeaders(tok), nil, now); !errors.Is(err, core.ErrBadSignature) {
		t.Fatalf("with JWKS down: err = %v, want rejection", err)
	}
	srv.Down.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, err := v.Verify(ctx, dynHeaders(tok), nil, now)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after the JWKS came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// And a key rotated in later is found through the same refetch path.
	srv.SetKey("k2", &rotatedGoogleKey.PublicKey)
	tok2 := sigtest.SignToken(t, jwt.SigningMethodRS256, rotatedGoogleKey, "k2", sigtest.BaseClaims(now, nil))
	deadline = time.Now().Add(10 * time.Second)
	for {
		_, err := v.Verify(context.Background(), dynHeaders(tok2), nil, now)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rotated key never accepted: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestJWKSDefaultsRecoverWithinAMinute(t *testing.T) {
	// Issue 2's contract rests on these defaults: unknown-kid refetch at most
	// every 30 s (no storm, yet recovery within a minute) and a short fetch timeout.
	if got := defaultUnknownKIDEvery; got > time.Minute || got < 10*time.Second {
		t.Fatalf("unknown-kid interval %s", got)
	}
	if got := defaultJWKSTimeout; got > 10*time.Second {
		t.Fatalf("JWKS fetch timeout %s", got)
	}
}
