package firestore

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// maxDocIDBytes keeps ids well inside Firestore's 1500-byte document id limit.
const maxDocIDBytes = 1400

// docID turns a delivery id into a Firestore document id. Letters, digits,
// '-' and '_' pass through so ids stay readable in the console; every other
// byte becomes ~XX (hex), so '/' can never add a path segment and ".", ".."
// and the reserved __name__ pattern cannot occur. Ids that would grow past
// the limit become ~h + hex SHA-256. The mapping is injective: '~' is always
// escaped, and "~h" is not an escape.
func docID(key string) string {
	var b strings.Builder
	b.Grow(len(key) + 8)
	for i := 0; i < len(key); i++ {
		c := key[i]
		safe := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' ||
			// a leading "__" would match Firestore's reserved __.*__ ids
			c == '_' && !(i == 0 && strings.HasPrefix(key, "__"))
		if safe {
			b.WriteByte(c)
			continue
		}
		const digits = "0123456789ABCDEF"
		b.WriteByte('~')
		b.WriteByte(digits[c>>4])
		b.WriteByte(digits[c&0xf])
	}
	if b.Len() == 0 {
		return "~" // the empty key; never valid as a webhook-id, but still a legal document id
	}
	if b.Len() > maxDocIDBytes {
		sum := sha256.Sum256([]byte(key))
		return "~h" + hex.EncodeToString(sum[:])
	}
	return b.String()
}
