package signature

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/geminiwebhooks/receiver/core"
)

// StaticSignature is one space-separated entry of a Standard Webhooks signature header.
type StaticSignature struct {
	Version   string
	Signature []byte
}

// DetectScheme tells the scheme from the shape of the signature header: a JWT
// is three base64url segments joined by dots; anything else must be a list
// of "version,base64" entries.
func DetectScheme(header string) (core.Scheme, error) {
	header = strings.TrimSpace(header)
	if header == "" {
		return "", core.ErrMissingHeaders
	}
	if looksLikeJWT(header) {
		return core.SchemeDynamic, nil
	}
	if _, err := ParseStaticSignatures(header); err != nil {
		return "", err
	}
	return core.SchemeStatic, nil
}

// ParseStaticSignatures parses "v1,<b64> v1a,<b64> …". Entries of unknown
// versions are kept (the verifier skips them); an entry without a comma, or a
// header with no entry at all, is malformed.
func ParseStaticSignatures(header string) ([]StaticSignature, error) {
	var out []StaticSignature
	for _, entry := range strings.Fields(header) {
		version, sig, ok := strings.Cut(entry, ",")
		if !ok || version == "" || sig == "" {
			return nil, fmt.Errorf("%w: signature entry is not \"version,signature\"", core.ErrMalformedHeaders)
		}
		if !isVersionToken(version) {
			return nil, fmt.Errorf("%w: signature version is not alphanumeric", core.ErrMalformedHeaders)
		}
		decoded, err := base64.StdEncoding.DecodeString(sig)
		if err != nil {
			// Unknown versions may use another encoding; only v1 must be base64.
			if version == "v1" {
				return nil, fmt.Errorf("%w: v1 signature is not base64", core.ErrMalformedHeaders)
			}
			decoded = nil
		}
		out = append(out, StaticSignature{Version: version, Signature: decoded})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: empty signature header", core.ErrMalformedHeaders)
	}
	return out, nil
}

func isVersionToken(s string) bool {
	if len(s) > 16 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func looksLikeJWT(s string) bool {
	s = strings.TrimPrefix(s, "Bearer ")
	dots := 0
	segLen := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if segLen == 0 && dots < 2 {
				return false
			}
			dots++
			segLen = 0
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			segLen++
		default:
			return false
		}
	}
	// The third segment (signature) may be empty only for alg "none", which the
	// dynamic verifier rejects with a clear reason, so it still counts as a JWT.
	return dots == 2
}
