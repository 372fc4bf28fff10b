package core

import (
	"errors"
	"time"
)

// Sentinel errors for the cases of the HTTP contract (package documentation). Verifiers
// and stores wrap them with %w; the handler maps them to statuses with errors.Is.
var (
	// ErrMissingHeaders: a required webhook header is absent (400).
	ErrMissingHeaders = errors.New("missing webhook headers")
	// ErrMalformedHeaders: a webhook header is present but cannot be parsed (400).
	ErrMalformedHeaders = errors.New("malformed webhook headers")
	// ErrBadSignature: no signature matched, or the token did not verify (401).
	ErrBadSignature = errors.New("signature verification failed")
	// ErrOutsideWindow: the timestamp is outside the replay window (401).
	ErrOutsideWindow = errors.New("timestamp outside the replay window")
	// ErrSchemeDisabled: the delivery uses a scheme this receiver is not configured for (401).
	ErrSchemeDisabled = errors.New("signature scheme not configured")
	// ErrClaimMismatch: a signed claim describing the delivery disagrees with the request (401).
	ErrClaimMismatch = errors.New("token claim does not match the request")

	// ErrBodyTooLarge: the body exceeds the configured cap (413).
	ErrBodyTooLarge = errors.New("body exceeds the size limit")

	// ErrNotOwner: complete or release by someone who does not hold the claim; it has no effect.
	ErrNotOwner = errors.New("claim is not held by this owner")
	// ErrStoreFull: a bounded store has no room left for a new key (503, Gemini retries).
	ErrStoreFull = errors.New("idempotency store is full")
	// ErrQueueFull: a bounded queue's backlog has no room for another event
	// (503: Gemini retries later, when the worker has caught up).
	ErrQueueFull = errors.New("queue backlog is full")

	// ErrNotUnderstood: a verified body that is not a v1 envelope; it is kept as a dead letter.
	ErrNotUnderstood = errors.New("event not understood")
	// ErrHandlerPanic: an event handler panicked; the claim is released and Gemini retries.
	ErrHandlerPanic = errors.New("event handler panicked")

	// ErrNotFound: the object, file or batch does not exist.
	ErrNotFound = errors.New("not found")
	// ErrNoDeadLetter: replay of a key that is not a dead letter.
	ErrNoDeadLetter = errors.New("no dead letter with that key")
)

// ErrPermanent marks a failure no retry can fix: the worker keeps the task
// as a dead letter at once instead of retrying it.
var ErrPermanent = errors.New("permanent failure")

// RetryLaterError asks for another attempt no earlier than At. Free
// attempts (waiting for another owner to finish) do not count towards
// MaxAttempts.
type RetryLaterError struct {
	At     time.Time
	Reason string
	Free   bool
}

func (e *RetryLaterError) Error() string { return "retry later: " + e.Reason }
