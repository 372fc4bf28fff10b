// Package signature is the machinery behind core/verify: Standard Webhooks
// HMAC signatures with whsec_ secrets (static webhooks), RS256 JWTs checked
// against a JWKS (dynamic webhooks), the replay window, and the idempotency
// key each verified delivery is stored under. It returns core's core.Delivery and
// wraps core's sentinel errors, so the receiver and core/verify answer the
// same way; users reach it only through core/verify.
package signature
