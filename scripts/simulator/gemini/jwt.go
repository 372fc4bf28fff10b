package gemini

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// JWKSPath is where ServeJWKS publishes the key set, the path Google uses.
const JWKSPath = "/.well-known/jwks.json"

// JWTSigner signs dynamic deliveries: an RS256 token in webhook-signature,
// as Gemini does for a job's webhook_config. Gemini does not document the
// claim set; the signer sends the registered claims (kid, aud, iss, iat, exp)
// and two that bind the token to its delivery: webhook_id and body_sha256
// (base64url SHA-256 of the body).
type JWTSigner struct {
	Audience string
	Issuer   string
	TTL      time.Duration // exp - iat; default one hour, like Google's ID tokens

	key     *rsa.PrivateKey
	kid     string
	fetches atomic.Int64
}

// NewJWTSigner makes a fresh 2048-bit RSA key.
func NewJWTSigner(audience, issuer string) (*JWTSigner, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return NewJWTSignerWithKey(key, audience, issuer), nil
}

// NewJWTSignerWithKey signs with key; its kid is the key's RFC 7638 thumbprint,
// so the same key keeps the same kid across runs.
func NewJWTSignerWithKey(key *rsa.PrivateKey, audience, issuer string) *JWTSigner {
	s := &JWTSigner{Audience: audience, Issuer: issuer, key: key}
	sum := sha256.Sum256([]byte(`{"e":"` + s.b64e() + `","kty":"RSA","n":"` + s.b64n() + `"}`))
	s.kid = base64.RawURLEncoding.EncodeToString(sum[:])
	return s
}

// LoadOrCreateKey reads a PKCS#8 PEM RSA key from path, making and storing
// one when the file does not exist (a stable key means a stable kid, so a
// running receiver keeps its cached key set between simulator runs).
func LoadOrCreateKey(path string) (*rsa.PrivateKey, error) {
	if b, err := os.ReadFile(path); err == nil {
		block, _ := pem.Decode(b)
		if block == nil {
			return nil, fmt.Errorf("%s: no PEM block", path)
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%s: not an RSA key", path)
		}
		return rk, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	return key, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

// KID is the key id every token carries in its header.
func (s *JWTSigner) KID() string { return s.kid }

// PublicKey is the key receivers verify with.
func (s *JWTSigner) PublicKey() *rsa.PublicKey { return &s.key.PublicKey }

// JWKS is the public key set document.
func (s *JWTSigner) JWKS() []byte {
	b, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": s.kid, "n": s.b64n(), "e": s.b64e(),
	}}})
	return b
}

// JWKSFetches counts how often the served key set was fetched.
func (s *JWTSigner) JWKSFetches() int64 { return s.fetches.Load() }

// ServeJWKS publishes the key set at http://addr/.well-known/jwks.json
// (addr "127.0.0.1:0" picks a free port) until ctx ends. It returns the URL.
func (s *JWTSigner) ServeJWKS(ctx context.Context, addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	jwks := s.JWKS()
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+JWKSPath, func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(jwks)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	return "http://" + ln.Addr().String() + JWKSPath, nil
}

// Token signs claims (the registered ones are added unless present) with the key.
func (s *JWTSigner) Token(claims jwt.MapClaims) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = s.kid
	return t.SignedString(s.key)
}

// DeliveryClaims are the claims of the token for one delivery issued at iat.
func (s *JWTSigner) DeliveryClaims(id string, iat time.Time, body []byte) jwt.MapClaims {
	ttl := s.TTL
	if ttl <= 0 {
		ttl = time.Hour
	}
	sum := sha256.Sum256(body)
	c := jwt.MapClaims{
		"aud":         s.Audience,
		"iat":         iat.Unix(),
		"exp":         iat.Add(ttl).Unix(),
		"webhook_id":  id,
		"body_sha256": base64.RawURLEncoding.EncodeToString(sum[:]),
	}
	if s.Issuer != "" {
		c["iss"] = s.Issuer
	}
	return c
}

// Sign returns the headers of a dynamic delivery: the token in
// webhook-signature, and webhook-id and webhook-timestamp beside it.
func (s *JWTSigner) Sign(id string, at time.Time, body []byte) (http.Header, error) {
	tok, err := s.Token(s.DeliveryClaims(id, at, body))
	if err != nil {
		return nil, err
	}
	h := make(http.Header, 4)
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
	h.Set(HeaderSignature, tok)
	return h, nil
}

func (s *JWTSigner) b64n() string {
	return base64.RawURLEncoding.EncodeToString(s.key.N.Bytes())
}

func (s *JWTSigner) b64e() string {
	return base64.RawURLEncoding.EncodeToString(big.NewInt(int64(s.key.E)).Bytes())
}
