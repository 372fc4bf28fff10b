package core

import "context"

// Queue hands a claimed event to asynchronous processing. Enqueue returns
// only once the event is durably queued: the handler answers 202 right
// after, so an event held only in memory would be lost by a crash.
type Queue interface {
	Enqueue(ctx context.Context, ev *Event) error
}
