package signature

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/internal/delivery"
	"github.com/golang-jwt/jwt/v5"
)

// Idempotency keys of the two schemes live in one store, one task queue and
// one ledger, so they must never collide: a dynamic token must not be able to
// take the key of a static delivery (and so make the genuine delivery 409 on
// every retry), nor the reverse.
//
// A dynamic token that binds its delivery (a delivery-id claim, a jti, a
// body-digest claim, or the event's data signed in the token) gives the key
// from what it signs:
//
//	jwt:id:<id>          the token's delivery-id claim (webhook_id, webhook-id, delivery_id)
//	jwt:jti:<jti>        else its jti
//	jwt:sha256:<hex>     else the SHA-256 of the token itself (strictly decoded, so canonical)
//
// A token that binds nothing (Gemini documents no such claim, and a token
// may be reused for many deliveries, or equal bytes for two: RS256 is
// deterministic) proves only that Gemini sent something to this audience
// recently. Its body is a hint (core.Delivery.Hint), keyed by what tells two such
// deliveries apart:
//
//	jwt:hint:id:<webhook-id>   the unsigned webhook-id header, when present
//	                           (the same id with another body stays a conflict)
//	jwt:hint:sha256:<hex>      else the SHA-256 of the body
//
// A static delivery's key is its webhook-id, except that an id which itself
// begins with delivery.DynamicKeyPrefix or delivery.StaticKeyEscape is stored as
// delivery.StaticKeyEscape+id. Each map is injective (the five dynamic forms differ in
// their second segment, "hint:" included), and the images of the two schemes
// are disjoint: no static key begins with "jwt:".
// staticKey maps a verified webhook-id to its idempotency key.
func staticKey(id string) string {
	if strings.HasPrefix(id, delivery.DynamicKeyPrefix) || strings.HasPrefix(id, delivery.StaticKeyEscape) {
		return delivery.StaticKeyEscape + id
	}
	return id
}

// dynamicKey derives the key of a verified token from its signed content.
// idClaim is the token's delivery id when it has one (already checked);
// bodyBound says a digest claim or the token's signed event data binds the
// body. A token that binds nothing is keyed by hintKey.
func dynamicKey(claims jwt.MapClaims, idClaim, token string, bodyBound bool, hdrID string, body []byte) string {
	if idClaim != "" {
		return delivery.DynamicKeyPrefix + "id:" + idClaim
	}
	if jti, ok := claims["jti"].(string); ok && jti != "" && checkID(jti) == nil {
		return delivery.DynamicKeyPrefix + "jti:" + jti
	}
	if bodyBound {
		// The token signs this body: the token itself is the delivery.
		// Strict base64 decoding makes the compact form canonical, so the
		// same signature cannot be re-encoded into a second key.
		sum := sha256.Sum256([]byte(token))
		return delivery.DynamicKeyPrefix + "sha256:" + hex.EncodeToString(sum[:])
	}
	return hintKey(hdrID, body)
}

// hintKey is the key of a delivery whose token binds nothing: the unsigned
// webhook-id (already checked) when sent, so that a retry is a duplicate and
// the same id with another body a conflict; else the body's SHA-256, so that
// two events under one token (reused, or equal bytes) are two deliveries.
func hintKey(hdrID string, body []byte) string {
	if hdrID != "" {
		return delivery.HintKeyPrefix + "id:" + hdrID
	}
	sum := sha256.Sum256(body)
	return delivery.HintKeyPrefix + "sha256:" + hex.EncodeToString(sum[:])
}

// envelopeFields are the envelope members a token may sign; each present in
// the token must equal the body's.
var envelopeFields = []string{"type", "version", "timestamp", "data"}

// checkEventClaims binds the body to the event the token carries, when it
// carries one: at the top level of its claims (type, data, ...) or under an
// "event" or "payload" object claim. It reports whether the token signs the
// event's data (then the body is bound); a token that carries no event, or
// only its type, leaves the body unbound here (a body digest may bind it).
func checkEventClaims(claims jwt.MapClaims, body []byte) (dataBound bool, err error) {
	signed := []map[string]any{}
	if _, ok := claims["type"]; ok {
		signed = append(signed, claims)
	} else if _, ok := claims["data"]; ok {
		signed = append(signed, claims)
	}
	for _, name := range []string{"event", "payload"} {
		if m, ok := claims[name].(map[string]any); ok {
			signed = append(signed, m)
		}
	}
	if len(signed) == 0 {
		return false, nil
	}
	var got map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&got); err != nil {
		return false, fmt.Errorf("%w: token carries an event, body is not JSON", core.ErrClaimMismatch)
	}
	for _, want := range signed {
		for _, f := range envelopeFields {
			w, ok := want[f]
			if !ok {
				continue
			}
			if !jsonEqual(w, got[f]) {
				return false, fmt.Errorf("%w: body %s differs from the token's", core.ErrClaimMismatch, f)
			}
			dataBound = dataBound || f == "data"
		}
	}
	return dataBound, nil
}

// jsonEqual compares two decoded JSON values; numbers compare by their
// canonical text so that 1, 1.0 and 1e0 agree and large ids keep precision.
func jsonEqual(a, b any) bool {
	na, nb := normJSON(a), normJSON(b)
	return reflect.DeepEqual(na, nb)
}

func normJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = normJSON(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = normJSON(e)
		}
		return s
	case json.Number:
		return canonNumber(x.String())
	case float64:
		return canonNumber(fmt.Sprint(x))
	}
	return v
}

func canonNumber(s string) string {
	var f json.Number = json.Number(s)
	if i, err := f.Int64(); err == nil {
		return fmt.Sprint(i)
	}
	if fl, err := f.Float64(); err == nil {
		return fmt.Sprint(fl)
	}
	return s
}

// checkCrit refuses a token with a crit header: RFC 7515 §4.1.11 requires a
// recipient to reject critical extensions it does not understand, and this
// verifier understands none. An empty or malformed crit is refused as well.
func checkCrit(t *jwt.Token) error {
	if _, ok := t.Header["crit"]; ok {
		return fmt.Errorf("token has a critical header this receiver does not understand")
	}
	return nil
}
