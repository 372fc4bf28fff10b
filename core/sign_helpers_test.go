package core_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/core/internal/delivery"
	"github.com/geminiwebhooks/receiver/core/internal/signature"
	"github.com/geminiwebhooks/receiver/core/internal/signature/sigtest"
)

// Local names for the shared test signer (sigtest) and the verifiers the
// receiver is built with (core/verify builds the same).
const (
	secretA      = sigtest.SecretA
	testAudience = sigtest.Audience
)

var (
	signFor       = sigtest.Sign
	signToken     = sigtest.SignToken
	baseClaims    = sigtest.BaseClaims
	newJWKSServer = sigtest.NewJWKSServer

	googleKey, _, _ = sigtest.Keys()
)

func dynHeaders(token string) http.Header {
	h := http.Header{}
	h.Set(delivery.HeaderSignature, token)
	return h
}

func newTestDynamic(t testing.TB, srv *sigtest.JWKSServer, every time.Duration, issuer string) *signature.DynamicVerifier {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	jwks := signature.NewJWKS(ctx, srv.URL, signature.JWKSOptions{HTTPTimeout: 2 * time.Second, UnknownKIDEvery: every})
	v, err := signature.NewDynamicVerifier(signature.DynamicConfig{Audience: testAudience, Issuer: issuer, Keys: jwks})
	if err != nil {
		t.Fatal(err)
	}
	return v
}
