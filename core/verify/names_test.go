package verify_test

import (
	"strings"
	"testing"

	"github.com/geminiwebhooks/receiver/core/verify"
)

// ParseSecrets and DecodeSecret are the check every runtime applies to
// WEBHOOK_SIGNING_SECRET: each entry a padded-base64 whsec_ key of 24 to 64
// bytes, errors naming the position and never the value.
func TestParseSecrets(t *testing.T) {
	const good = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	tests := []struct {
		name, in string
		n        int    // secrets returned
		errHas   string // "" when it must succeed
	}{
		{"one", good, 1, ""},
		{"comma and space separated", good + ", " + good + " " + good, 3, ""},
		{"none", " , ", 0, "none given"},
		{"no prefix", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 0, "secret 1 of 1: must start with"},
		{"not base64", good + ",whsec_!!!!", 0, "secret 2 of 2: not valid padded base64"},
		{"too short", "whsec_c2hvcnQ=", 0, "decodes to 5 bytes"},
		{"empty after prefix", "whsec_", 0, "empty after"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := verify.ParseSecrets(tc.in)
			if tc.errHas == "" {
				if err != nil || len(got) != tc.n {
					t.Fatalf("ParseSecrets = %d secrets, %v; want %d", len(got), err, tc.n)
				}
				for _, s := range got {
					if key, err := verify.DecodeSecret(s); err != nil || len(key) != 24 {
						t.Fatalf("DecodeSecret(%q) = %d bytes, %v; want 24", s, len(key), err)
					}
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("ParseSecrets err = %v, want it to say %q", err, tc.errHas)
			}
			if strings.Contains(err.Error(), "MfKQ9r8G") || strings.Contains(err.Error(), "c2hvcnQ") {
				t.Fatalf("error shows the secret: %v", err)
			}
		})
	}
}
