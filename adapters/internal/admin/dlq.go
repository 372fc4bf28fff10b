package admin

import (
	"context"

	"github.com/geminiwebhooks/receiver/core"
)

// QueuedDead is a message of a queue's dead-letter queue, as a dead letter.
type QueuedDead struct {
	core.DeadLetter
	Receipt  string // SQS receipt handle, Pub/Sub ack id
	Delivery string // the delivery id the message carries
}

// QueueDLQ is where a cloud queue keeps what its worker gave up on: the
// SQS dead-letter queue or the Pub/Sub dead-letter subscription.
type QueueDLQ interface {
	// Peek takes the messages out of sight while the command runs.
	Peek(ctx context.Context) ([]QueuedDead, error)
	// Release makes those not removed visible again at once.
	Release(ctx context.Context, ms []QueuedDead)
	// Remove deletes one for good.
	Remove(ctx context.Context, m QueuedDead) error
}
