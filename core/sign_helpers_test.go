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

// Google's key for the dynamic cases; sigtest signs and serves it.
var googleKey, _, _ = sigtest.Keys()

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
	v, err := signature.NewDynamicVerifier(signature.DynamicConfig{Audience: sigtest.Audience, Issuer: issuer, Keys: jwks})
	if err != nil {
		t.Fatal(err)
	}
	return v
}
