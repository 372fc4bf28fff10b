// Package core receives Gemini API webhooks the same way on every runtime:
// it reads a delivery, verifies it (Standard Webhooks HMAC signatures with
// whsec_ secrets for static webhooks, RS256 JWTs against a JWKS for dynamic
// ones), checks the replay window, parses the thin event envelope, claims
// the delivery id in a Store, runs the built-in actions and the handlers
// registered on a Mux, and answers. It imports no cloud SDK: the adapters
// run it as a Cloud Function, an AWS Lambda and a local server.
//
// # How it fits
//
// What you write is a Mux: the handlers (HandlerFunc) for the event types
// you care about, middleware (Use) and agent tools (Tool). A runtime serves
// it, reading its configuration from the environment once:
//
//	mux := core.NewMux().On(core.BatchSucceeded, save).On(core.InteractionRequiresAction, run)
//	gcf.Register(mux) // adapters/gcf; or lambda.Start(mux), local.Main(mux)
//
// A handler gets the Event (its Type, JobID, Data, UserMetadata and the
// verified Delivery) and, through core/jobs, what the built-in actions did
// for it (jobs.JobOf, jobs.Landed). A handler's error (or panic) fails the
// delivery, which is answered 5xx and retried, so handlers are idempotent
// per delivery; a tool's error is the model's to see unless it wraps
// ErrRetry; a queued task failing with ErrPermanent is kept as a dead
// letter at once.
//
// The rest of this package is what the runtimes compose, and what a
// composition of your own may use: Receiver, the http.Handler that
// verifies, claims and dispatches (NewReceiver; core/verify builds its
// Verifier), the Store it claims delivery ids in (MemoryStore here, the
// file store in adapters/bolt, Firestore in adapters/firestore; each passes
// core/storetest), the Queue it may hand events to (core/tasks), and the
// sentinel errors. To verify deliveries in a server of your own without
// any of this, use core/verify alone.
//
// # The HTTP contract
//
// Gemini retries every answer that is not 2xx, or that does not come within
// a few seconds, with exponential backoff for 24 hours. So the receiver never
// answers 2xx before the delivery is durably claimed, nor for a duplicate
// still in progress elsewhere (a crash there would lose the event), and
// every store or queue call has a deadline (DefaultStoreTimeout) so that an
// outage is answered 503 quickly:
//
//	verified, processed now, or queued durably            200, 202   not retried
//	verified duplicate of a finished delivery             200        not retried
//	verified but not understood (kept as a dead letter)   200        not retried
//	missing or malformed webhook headers                  400        retried, harmless
//	bad signature or token, timestamp outside the window  401        retried, harmless
//	method other than POST                                405
//	body over the cap (DefaultMaxBodyBytes)               413
//	same id in progress elsewhere, or with another body   409        retried
//	handler failed, store or queue unreachable            500, 503   retried: nothing is lost
//
// Each delivery writes one log line (slog) with webhook_id, event_type,
// scheme, outcome (processed, queued, duplicate, rejected, in_progress,
// conflict, failed, dead_letter), status, reason when rejected, and
// latency_ms. Secrets and tokens never appear in logs.
//
// # Exactly once
//
// The key is the delivery id (webhook-id, which the signature covers; the
// token's when it names the delivery). A claim is owned: it records an
// owner token, a lease that ends with the request's deadline, and the
// SHA-256 of the body. A record goes absent → in_progress → completed, and a
// completed one is kept for the TTL (DefaultTTL, longer than Gemini's 24 h
// of retries); an expired record counts as absent. A handler error releases
// the claim (only its owner may) and answers 5xx; a crashed owner's lease
// runs out and the next delivery takes over; the same id with another body
// is a conflict. A new delivery costs at most two store round trips, a
// duplicate at most one.
package core
