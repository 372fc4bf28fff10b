// Package delivery names what identifies a Gemini webhook delivery on the
// wire and in the store: the three Standard Webhooks headers (and how to
// read them from any header map), and the prefixes that keep the
// idempotency keys of the two signature schemes apart. It is a leaf: core,
// its verifiers (core/internal/signature) and core/jobs all read these
// names from here, so each is defined once.
package delivery

import "strings"

// Header names, lower case as Gemini sends them; Header reads them in any case.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Idempotency keys of the two schemes live in one store, one task queue and
// one ledger, so they must never collide. A static delivery's key is its
// webhook-id, except that an id which itself begins with DynamicKeyPrefix
// or StaticKeyEscape is stored as StaticKeyEscape+id; every dynamic key
// begins with DynamicKeyPrefix (core/internal/signature derives them).
const (
	// DynamicKeyPrefix begins the idempotency key (Delivery.ID) of every dynamic delivery.
	DynamicKeyPrefix = "jwt:"
	// StaticKeyEscape is put before a static webhook-id that would otherwise
	// look like a dynamic key (or like an escaped one).
	StaticKeyEscape = "static:"
	// HintKeyPrefix begins the key of a dynamic delivery whose token binds
	// nothing: its body is a hint, confirmed with the Gemini API before
	// anything acts on it.
	HintKeyPrefix = DynamicKeyPrefix + "hint:"
)

// Header reads a header case-insensitively even from a map that was not
// built with canonical keys (Lambda events arrive lower case).
func Header(h map[string][]string, name string) string {
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
