package gemini

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names of a delivery. Gemini sends them lower case; net/http
// canonicalises them, and receivers must read them case-insensitively.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// StaticSignature is the Standard Webhooks "v1,<base64 HMAC-SHA256>" entry
// over id.timestamp.body, keyed with the base64 after "whsec_".
func StaticSignature(secret, id string, ts time.Time, body []byte) (string, error) {
	key, err := decodeSecret(secret)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write(strconv.AppendInt(nil, ts.Unix(), 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// NewSecret makes a random whsec_ secret (32 bytes), as Gemini issues them.
func NewSecret() string {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(key)
}

// SignStatic returns the three webhook headers of a static delivery. secret
// may list several secrets (comma or space separated): one v1 entry is sent
// per secret, as during a rotation when old and new are both valid.
func SignStatic(secret, id string, ts time.Time, body []byte) (http.Header, error) {
	secrets := SplitSecrets(secret)
	if len(secrets) == 0 {
		return nil, errors.New("no signing secret")
	}
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		sig, err := StaticSignature(s, id, ts, body)
		if err != nil {
			return nil, err
		}
		sigs = append(sigs, sig)
	}
	h := make(http.Header, 4)
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, strings.Join(sigs, " "))
	return h, nil
}

// StaticSigner signs deliveries with one or more whsec_ secrets.
type StaticSigner struct {
	Secret string // one secret, or several separated by commas or spaces
}

func (s StaticSigner) Sign(id string, at time.Time, body []byte) (http.Header, error) {
	return SignStatic(s.Secret, id, at, body)
}

// SplitSecrets splits a secret list the way WEBHOOK_SIGNING_SECRET is written.
func SplitSecrets(list string) []string {
	return strings.FieldsFunc(list, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
	})
}

// decodeSecret errors never contain the secret, so callers may print them.
func decodeSecret(secret string) ([]byte, error) {
	raw, ok := strings.CutPrefix(strings.TrimSpace(secret), "whsec_")
	if !ok {
		return nil, errors.New(`signing secret must start with "whsec_"`)
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(key) == 0 {
		return nil, fmt.Errorf("signing secret is not base64 after the whsec_ prefix")
	}
	return key, nil
}
