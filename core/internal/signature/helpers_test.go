package signature

import "github.com/geminiwebhooks/receiver/core/internal/signature/sigtest"

// Local names for the shared test signer (sigtest), which core's receiver
// tests use too.
const (
	secretA      = sigtest.SecretA
	secretB      = sigtest.SecretB
	testAudience = sigtest.Audience
)

var (
	signFor       = sigtest.Sign
	signToken     = sigtest.SignToken
	baseClaims    = sigtest.BaseClaims
	newJWKSServer = sigtest.NewJWKSServer

	googleKey, rogue, rotatedGoogleKey = sigtest.Keys()
)
