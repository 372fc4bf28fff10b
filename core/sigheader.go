package core

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// Header names, lower case as Gemini sends them; lookups are case-insensitive.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Scheme is how a delivery is signed.
type Scheme string

const (
	SchemeStatic  Scheme = "static"  // Standard Webhooks HMAC with a whsec_ secret
	SchemeDynamic Scheme = "dynamic" // RS256 JWT checked against Google's JWKS
	// SchemeReconcile marks an event the reconcile made from the Gemini
	// API's answer (core/reconcile), standing in for a delivery Gemini did
	// not make; it is not a signature scheme and no receiver accepts it.
	SchemeReconcile Scheme = "reconcile"
)

// StaticSignature is one space-separated entry of a Standard Webhooks signature header.
type StaticSignature struct {
	Version   string
	Signature []byte
}

// DetectScheme tells the scheme from the shape of the signature header: a JWT
// is three base64url segments joined by dots; anything else must be a list
// of "version,base64" entries.
func DetectScheme(header string) (Scheme, error) {
	header = strings.TrimSpace(header)
	if header == "" {
		return "", ErrMissingHeaders
	}
	if looksLikeJWT(header) {
		return SchemeDynamic, nil
	}
	if _, err := ParseStaticSignatures(header); err != nil {
		return "", err
	}
	return SchemeStatic, nil
}

// ParseStaticSignatures parses "v1,<b64> v1a,<b64> …". Entries of unknown
// versions are kept (the verifier skips them); an entry without a comma, or a
// header with no entry at all, is malformed.
func ParseStaticSignatures(header string) ([]StaticSignature, error) {
	var out []StaticSignature
	for _, entry := range strings.Fields(header) {
		version, sig, ok := strings.Cut(entry, ",")
		if !ok || version == "" || sig == "" {
			return nil, fmt.Errorf("%w: signature entry is not \"version,signature\"", ErrMalformedHeaders)
		}
		if !isVersionToken(version) {
			return nil, fmt.Errorf("%w: signature version is not alphanumeric", ErrMalformedHeaders)
		}
		decoded, err := base64.StdEncoding.DecodeString(sig)
		if err != nil {
			// Unknown versions may use another encoding; only v1 must be base64.
			if version == "v1" {
				return nil, fmt.Errorf("%w: v1 signature is not base64", ErrMalformedHeaders)
			}
			decoded = nil
		}
		out = append(out, StaticSignature{Version: version, Signature: decoded})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: empty signature header", ErrMalformedHeaders)
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

// headerValue reads a header case-insensitively even from a map that was not
// built with canonical keys (Lambda events arrive lower case).
func headerValue(h map[string][]string, name string) string {
	if v, ok := h[canonical(name)]; ok && len(v) > 0 {
		return v[0]
	}
	if v, ok := h[name]; ok && len(v) > 0 {
		return v[0]
	}
	for k, v := range h {
		if len(v) > 0 && strings.EqualFold(k, name) {
			return v[0]
		}
	}
	return ""
}

func canonical(name string) string {
	switch name {
	case HeaderID:
		return "Webhook-Id"
	case HeaderTimestamp:
		return "Webhook-Timestamp"
	case HeaderSignature:
		return "Webhook-Signature"
	}
	return name
}
