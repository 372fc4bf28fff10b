package core

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
