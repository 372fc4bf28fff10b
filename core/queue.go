package core

import (
	"context"
	"time"
)

// Queue hands a claimed event to asynchronous processing. Enqueue returns
// only once the event is durably queued: the handler answers 202 right
// after, so an event held only in memory would be lost by a crash.
type Queue interface {
	Enqueue(ctx context.Context, ev *Event) error
}

// ClaimingQueue is a Queue that shares its database with the receiver's
// Store (the local file store), so that it can take a delivery's claim,
// queue its event and complete the claim in one durable step: one commit
// per delivery instead of three. The receiver uses it when its Queue
// implements it; other queues (Pub/Sub, SQS) keep claim, Enqueue, Complete.
//
// EnqueueClaimed applies the claim rules (Decide) to c as Store.Claim does
// and returns the verdict; only on Claimed is ev queued, and the claim is
// then recorded completed until keepUntil. On an error nothing is claimed
// nor queued (ErrQueueFull when the backlog is at its bounds), so Gemini's
// retry starts afresh.
type ClaimingQueue interface {
	Queue
	EnqueueClaimed(ctx context.Context, c Claim, keepUntil time.Time, ev *Event) (ClaimResult, error)
}
