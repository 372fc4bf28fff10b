package gemini_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/verify"
	"github.com/geminiwebhooks/receiver/scripts/simulator/gemini"
)

// The receiver's dynamic verifier, fetching the signer's JWKS over loopback,
// accepts its tokens, takes the id from the token, and refuses a body that
// does not match the token's digest or a token for another audience.
func TestJWTSignerVerifiedByCore(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := gemini.NewJWTSigner("my-audience", "https://generativelanguage.googleapis.com")
	if err != nil {
		t.Fatal(err)
	}
	url, err := s.ServeJWKS(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	verifier := func(aud string) core.Verifier {
		v, err := verify.New(ctx, verify.Config{
			Audience: aud, Issuer: "https://generativelanguage.googleapis.com",
			JWKSURL: url, HTTPClient: &http.Client{Timeout: 2 * time.Second},
		})
		if err != nil {
			t.Fatal(err)
		}
		return v.Schemes()
	}
	good := verifier("my-audience")

	body := gemini.NewPayload("batch.succeeded", time.Now(), map[string]any{"k": "v"})
	id := gemini.NewID()
	now := time.Now()
	h, err := s.Sign(id, now, body)
	if err != nil {
		t.Fatal(err)
	}
	vctx, vcancel := context.WithTimeout(ctx, 5*time.Second)
	defer vcancel()
	d, err := good.Verify(vctx, h, body, now)
	if err != nil {
		t.Fatalf("core rejects the simulator's token: %v", err)
	}
	if d.ID != "jwt:id:"+id || d.Scheme != core.SchemeDynamic {
		t.Fatalf("delivery %+v, want id %s, dynamic", d, id)
	}
	if _, err := good.Verify(vctx, h, gemini.TamperBody(body), now); !errors.Is(err, core.ErrClaimMismatch) {
		t.Fatalf("tampered body: %v, want ErrClaimMismatch", err)
	}
	if _, err := verifier("someone-else").Verify(vctx, h, body, now); !errors.Is(err, core.ErrBadSignature) {
		t.Fatalf("wrong audience: %v, want ErrBadSignature", err)
	}
	if s.JWKSFetches() == 0 {
		t.Fatal("the JWKS was never fetched")
	}
}

func TestJWTSignerClaims(t *testing.T) {
	s, err := gemini.NewJWTSigner("aud-1", "iss-1")
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"type":"batch.failed"}`)
	at := time.Now().Truncate(time.Second)
	h, err := s.Sign("msg_abc", at, body)
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{}
	tok, err := jwt.NewParser(jwt.WithValidMethods([]string{"RS256"}), jwt.WithAudience("aud-1"), jwt.WithIssuer("iss-1"), jwt.WithExpirationRequired()).
		ParseWithClaims(h.Get(gemini.HeaderSignature), claims, func(*jwt.Token) (any, error) { return s.PublicKey(), nil })
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	for name, want := range map[string]any{
		"webhook_id":  "msg_abc",
		"body_sha256": base64.RawURLEncoding.EncodeToString(sum[:]),
		"iat":         float64(at.Unix()),
		"exp":         float64(at.Add(time.Hour).Unix()),
	} {
		if claims[name] != want {
			t.Errorf("claim %s = %v, want %v", name, claims[name], want)
		}
	}
	if tok.Header["kid"] != s.KID() || s.KID() == "" {
		t.Errorf("kid %v, want %q", tok.Header["kid"], s.KID())
	}
	if h.Get(gemini.HeaderID) != "msg_abc" || h.Get(gemini.HeaderTimestamp) == "" {
		t.Errorf("headers %v: want webhook-id and webhook-timestamp beside the token", h)
	}
}

// A key kept in a file gives the same kid on the next run.
func TestLoadOrCreateKeyKeepsKID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "key.pem")
	k1, err := gemini.LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := gemini.LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	a, b := gemini.NewJWTSignerWithKey(k1, "a", ""), gemini.NewJWTSignerWithKey(k2, "a", "")
	if a.KID() != b.KID() {
		t.Fatalf("kid changed across loads: %s, %s", a.KID(), b.KID())
	}
	fresh, err := gemini.NewJWTSigner("a", "")
	if err != nil {
		t.Fatal(err)
	}
	if fresh.KID() == a.KID() {
		t.Fatal("a fresh key has the stored key's kid")
	}
}
