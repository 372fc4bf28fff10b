// Package gemini sends what the Gemini API sends to a webhook: thin event
// payloads for every type of the catalogue, signed with the static scheme
// (Standard Webhooks HMAC with a whsec_ secret) or the dynamic one (RS256 JWT
// whose keys it serves as a JWKS), delivered with Gemini's retries.
//
// It depends on no package of the receiver on purpose (only on the API
// stand-in, adapters/gemini/geminitest, whose batches its events name): it is an independent
// implementation of the sender side, so tests that pair it with core check
// two implementations against each other rather than one against itself.
package gemini
