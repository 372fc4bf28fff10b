package verify

import (
	"github.com/geminiwebhooks/receiver/core/internal/delivery"
	"github.com/geminiwebhooks/receiver/core/internal/signature"
)

// DefaultJWKSURL is where Google publishes the keys of dynamic webhook
// tokens; Config.JWKSURL defaults to it.
const DefaultJWKSURL = signature.DefaultJWKSURL

// The headers a delivery is signed with, lower case as Gemini sends them;
// Verify reads them in any case.
const (
	HeaderID        = delivery.HeaderID        // the delivery id, the same on every retry
	HeaderTimestamp = delivery.HeaderTimestamp // unix seconds of this attempt
	HeaderSignature = delivery.HeaderSignature // v1,<base64 HMAC> entries, or a JWT
)

// ParseSecrets splits a list of whsec_ secrets (comma or space separated,
// as in WEBHOOK_SIGNING_SECRET) and checks every entry as DecodeSecret
// does. Errors name the entry's position, never its value, so a mistyped
// secret cannot end up in a log.
func ParseSecrets(list string) ([]string, error) { return signature.ParseSecrets(list) }

// DecodeSecret returns the HMAC key of one whsec_ secret: padded base64
// after the prefix, 24 to 64 bytes once decoded.
func DecodeSecret(s string) ([]byte, error) { return signature.DecodeSecret(s) }
