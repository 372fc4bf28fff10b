package firestore

import (
	"encoding/hex"
	"fmt"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/geminiwebhooks/receiver/core"
)

// Field names of a delivery document. expireAt is the TTL policy's field.
const (
	fieldKey        = "key"
	fieldState      = "state"
	fieldOwner      = "owner"
	fieldBodySHA256 = "bodySha256"
	fieldEventType  = "eventType"
	fieldLeaseUntil = "leaseUntil"
	fieldFirstSeen  = "firstSeen"
	fieldFinishedAt = "finishedAt"
	fieldExpireAt   = "expireAt"
)

// recordDoc is one delivery document. Times are Firestore Timestamps
// (microsecond precision); expireAt is the lease end while in progress and
// the end of IDEMPOTENCY_TTL once completed, which is what a TTL policy on
// expireAt needs.
type recordDoc struct {
	Key        string    `firestore:"key"` // the delivery id as sent; the document id may be escaped
	State      string    `firestore:"state"`
	Owner      string    `firestore:"owner,omitempty"`
	BodySHA256 string    `firestore:"bodySha256"` // hex
	EventType  string    `firestore:"eventType,omitempty"`
	LeaseUntil time.Time `firestore:"leaseUntil,omitempty"`
	FirstSeen  time.Time `firestore:"firstSeen"`
	FinishedAt time.Time `firestore:"finishedAt,omitempty"`
	ExpireAt   time.Time `firestore:"expireAt"`
}

func toDoc(key string, r *core.Record) recordDoc {
	return recordDoc{
		Key:        key,
		State:      string(r.State),
		Owner:      r.Owner,
		BodySHA256: hex.EncodeToString(r.BodyHash[:]),
		EventType:  r.EventType,
		LeaseUntil: r.LeaseUntil,
		FirstSeen:  r.FirstSeen,
		FinishedAt: r.FinishedAt,
		ExpireAt:   r.ExpireAt,
	}
}

// updates writes every field of r, so a takeover leaves nothing of the old record behind.
func (d recordDoc) updates() []firestore.Update {
	u := []firestore.Update{
		{Path: fieldKey, Value: d.Key},
		{Path: fieldState, Value: d.State},
		{Path: fieldOwner, Value: d.Owner},
		{Path: fieldBodySHA256, Value: d.BodySHA256},
		{Path: fieldEventType, Value: d.EventType},
		{Path: fieldLeaseUntil, Value: d.LeaseUntil},
		{Path: fieldFirstSeen, Value: d.FirstSeen},
		{Path: fieldExpireAt, Value: d.ExpireAt},
	}
	if d.FinishedAt.IsZero() {
		u = append(u, firestore.Update{Path: fieldFinishedAt, Value: firestore.Delete})
	} else {
		u = append(u, firestore.Update{Path: fieldFinishedAt, Value: d.FinishedAt})
	}
	return u
}

func (d recordDoc) record() (*core.Record, error) {
	r := &core.Record{
		State:      core.RecordState(d.State),
		Owner:      d.Owner,
		EventType:  d.EventType,
		LeaseUntil: d.LeaseUntil,
		FirstSeen:  d.FirstSeen,
		FinishedAt: d.FinishedAt,
		ExpireAt:   d.ExpireAt,
	}
	h, err := hex.DecodeString(d.BodySHA256)
	if err != nil || len(h) != len(r.BodyHash) {
		return nil, fmt.Errorf("record %q: bad %s", d.Key, fieldBodySHA256)
	}
	copy(r.BodyHash[:], h)
	return r, nil
}

func decodeRecord(snap *firestore.DocumentSnapshot) (*core.Record, error) {
	var d recordDoc
	if err := snap.DataTo(&d); err != nil {
		return nil, fmt.Errorf("record %s: %w", snap.Ref.ID, err)
	}
	return d.record()
}
