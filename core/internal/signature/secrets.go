package signature

import (
	"encoding/base64"
	"fmt"
	"strings"
)

const secretPrefix = "whsec_"

// Bounds on a decoded signing key. Gemini's secrets decode to 24–64 bytes; a
// shorter key is a truncated paste, a longer one is not a Gemini secret.
const (
	minSecretBytes = 24
	maxSecretBytes = 64
)

// ParseSecrets splits WEBHOOK_SIGNING_SECRET (comma or space separated) and
// validates every entry. Errors name the entry's position, never its value,
// so a mistyped secret cannot end up in a log.
func ParseSecrets(list string) ([]string, error) {
	fields := strings.FieldsFunc(list, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
	})
	if len(fields) == 0 {
		return nil, fmt.Errorf("signing secret: none given")
	}
	for i, s := range fields {
		if _, err := DecodeSecret(s); err != nil {
			return nil, fmt.Errorf("signing secret %d of %d: %w", i+1, len(fields), err)
		}
	}
	return fields, nil
}

// DecodeSecret returns the HMAC key of one whsec_ secret.
func DecodeSecret(s string) ([]byte, error) {
	if !strings.HasPrefix(s, secretPrefix) {
		return nil, fmt.Errorf("must start with %q", secretPrefix)
	}
	raw := strings.TrimPrefix(s, secretPrefix)
	if raw == "" {
		return nil, fmt.Errorf("empty after the %q prefix", secretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return nil, fmt.Errorf("not valid padded base64 after the %q prefix", secretPrefix)
	}
	if len(key) < minSecretBytes || len(key) > maxSecretBytes {
		return nil, fmt.Errorf("decodes to %d bytes, want %d to %d", len(key), minSecretBytes, maxSecretBytes)
	}
	return key, nil
}
