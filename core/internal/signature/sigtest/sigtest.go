// Package sigtest signs test deliveries for the tests of core and its
// verifiers: Standard Webhooks signatures with whsec_ secrets, and RS256
// tokens with keys served from a JWKS on loopback. It imports neither core
// nor the verifiers, so the tests of both can use it.
package sigtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Secrets for tests, rotation included: 32 random-looking bytes each.
const (
	SecretA = "whsec_dGVzdC1zZWNyZXQtQS0wMTIzNDU2Nzg5YWJjZGVmZ2g="
	SecretB = "whsec_dGVzdC1zZWNyZXQtQi0wMTIzNDU2Nzg5YWJjZGVmZ2g="
)

// Audience is the aud the test tokens carry and the test verifiers expect.
const Audience = "https://receiver.example/gemini"

// Sign returns the webhook-signature header for id, ts and body under secret.
func Sign(t testing.TB, secret, id string, ts time.Time, body []byte) string {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := wh.Sign(id, ts, body)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

var (
	keysOnce               sync.Once
	google, rogue, rotated *rsa.PrivateKey
)

// Keys returns three RSA keys made once per test binary: Google's, an
// attacker's, and the one Google rotates to.
func Keys() (googleKey, rogueKey, rotatedKey *rsa.PrivateKey) {
	keysOnce.Do(func() {
		for _, k := range []**rsa.PrivateKey{&google, &rogue, &rotated} {
			var err error
			if *k, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
				panic(err)
			}
		}
	})
	return google, rogue, rotated
}

// JWKSServer serves a JWKS on loopback and counts fetches; it can be made to fail.
type JWKSServer struct {
	*httptest.Server
	Fetches atomic.Int64 // fetches served (or refused while Down)
	Down    atomic.Bool  // answer 503 while set
	mu      sync.Mutex
	keys    map[string]*rsa.PublicKey
}

// NewJWKSServer serves keys by kid until the test ends.
func NewJWKSServer(t testing.TB, keys map[string]*rsa.PublicKey) *JWKSServer {
	s := &JWKSServer{keys: keys}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Fetches.Add(1)
		if s.Down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		var out struct {
			Keys []map[string]string `json:"keys"`
		}
		for kid, k := range s.keys {
			out.Keys = append(out.Keys, map[string]string{
				"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
				"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
				"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes()),
			})
		}
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(s.Close)
	return s
}

// SetKey publishes k under kid from the next fetch on.
func (s *JWKSServer) SetKey(kid string, k *rsa.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[kid] = k
}

// SignToken signs claims with key; kid "" leaves the header without one.
func SignToken(t testing.TB, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// BaseClaims is a token that binds its delivery (webhook_id evt_123) and
// body (body_sha256), issued now for Audience.
func BaseClaims(now time.Time, body []byte) jwt.MapClaims {
	sum := sha256.Sum256(body)
	return jwt.MapClaims{
		"aud":         Audience,
		"iss":         "https://generativelanguage.googleapis.com",
		"iat":         now.Unix(),
		"exp":         now.Add(10 * time.Minute).Unix(),
		"webhook_id":  "evt_123",
		"body_sha256": base64.RawURLEncoding.EncodeToString(sum[:]),
	}
}
