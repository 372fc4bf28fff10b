package core

import (
	"context"
	"crypto/sha256"
	"time"
)

// Store keeps one record per delivery id so that Gemini's at-least-once
// deliveries are processed exactly once (see "Exactly once" in the package
// documentation).
//
// States: absent → in_progress (owned, leased) → completed (kept until
// KeepUntil). An expired record counts as absent. Complete and Release take
// effect only for the claim's owner and otherwise return ErrNotOwner. Any
// other error means the store could not answer (the handler replies 503).
type Store interface {
	Claim(ctx context.Context, c Claim) (ClaimResult, error)
	Complete(ctx context.Context, c Claim, keepUntil time.Time) error
	Release(ctx context.Context, c Claim) error
}

// Claim is one attempt to own a delivery id.
type Claim struct {
	Key       string
	Owner     string   // random per attempt; only it may complete or release
	BodyHash  [32]byte // SHA-256 of the verified body
	EventType string
	// EventTime is when the event happened (the envelope's timestamp; zero
	// when unknown). A store may read before it writes when the event is
	// old: a delivery that long after its event is most likely a retry.
	EventTime  time.Time
	Now        time.Time
	LeaseUntil time.Time // when a crashed owner's claim may be taken over
}

// ClaimResult is the store's verdict on a claim.
type ClaimResult int

const (
	Claimed    ClaimResult = iota + 1 // new, or taken over from an expired lease: process it
	Duplicate                         // already completed: answer 200, do nothing
	InProgress                        // another owner holds a live lease: answer 409
	Conflict                          // same id, different body: answer 409
)

func (r ClaimResult) String() string {
	switch r {
	case Claimed:
		return "claimed"
	case Duplicate:
		return "duplicate"
	case InProgress:
		return "in_progress"
	case Conflict:
		return "conflict"
	}
	return "unknown"
}

// RecordState is a stored record's state.
type RecordState string

// The states of an idempotency record (an absent record is the third).
const (
	StateInProgress RecordState = "in_progress"
	StateCompleted  RecordState = "completed"
)

// Record is what stores keep per delivery id.
type Record struct {
	State      RecordState `json:"state"`
	Owner      string      `json:"owner,omitempty"`
	BodyHash   [32]byte    `json:"body_sha256"`
	EventType  string      `json:"event_type,omitempty"`
	LeaseUntil time.Time   `json:"lease_until,omitempty"`
	FirstSeen  time.Time   `json:"first_seen"`
	FinishedAt time.Time   `json:"finished_at,omitempty"`
	ExpireAt   time.Time   `json:"expire_at"` // lease end while in progress, TTL end once completed
}

// Decide applies the claim rules to an existing record (nil when absent).
// Stores call it inside their own atomic step; it returns the verdict and,
// when the claim wins, the record to write.
func Decide(existing *Record, c Claim) (ClaimResult, *Record) {
	if existing != nil && existing.ExpireAt.After(c.Now) {
		if existing.BodyHash != c.BodyHash {
			return Conflict, nil
		}
		if existing.State == StateCompleted {
			return Duplicate, nil
		}
		return InProgress, nil
	}
	firstSeen := c.Now
	if existing != nil && existing.State == StateInProgress && existing.BodyHash == c.BodyHash {
		firstSeen = existing.FirstSeen // a takeover keeps the history
	}
	return Claimed, &Record{
		State:      StateInProgress,
		Owner:      c.Owner,
		BodyHash:   c.BodyHash,
		EventType:  c.EventType,
		LeaseUntil: c.LeaseUntil,
		FirstSeen:  firstSeen,
		ExpireAt:   c.LeaseUntil,
	}
}

// HashBody is the body hash stored with a claim.
func HashBody(b []byte) [32]byte { return sha256.Sum256(b) }
