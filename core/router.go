package core

import (
	"context"
	"fmt"
	"runtime/debug"
)

// Processor acts on a verified, claimed event. An error (or panic) releases
// the claim and answers 5xx so Gemini redelivers.
type Processor interface {
	Process(ctx context.Context, ev *Event) error
}

// ProcessorFunc adapts a function to Processor.
type ProcessorFunc func(ctx context.Context, ev *Event) error

func (f ProcessorFunc) Process(ctx context.Context, ev *Event) error { return f(ctx, ev) }

// Router sends each event to the handler registered for its type. Types with
// no handler are accepted and only logged, so new Gemini event types never
// cause retries.
type Router struct {
	routes   map[string]ProcessorFunc
	fallback ProcessorFunc
}

func NewRouter() *Router { return &Router{routes: make(map[string]ProcessorFunc)} }

// On registers fn for an event type; "batch.completed" registers batch.succeeded.
func (r *Router) On(eventType string, fn ProcessorFunc) *Router {
	if eventType == batchCompletedAlias {
		eventType = BatchSucceeded
	}
	r.routes[eventType] = fn
	return r
}

// Default handles every type without its own handler.
func (r *Router) Default(fn ProcessorFunc) *Router {
	r.fallback = fn
	return r
}

// Process runs the event's handler, turning a panic into ErrHandlerPanic.
func (r *Router) Process(ctx context.Context, ev *Event) (err error) {
	fn := r.routes[ev.Type]
	if fn == nil {
		fn = r.fallback
	}
	if fn == nil {
		return nil
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v\n%s", ErrHandlerPanic, p, debug.Stack())
		}
	}()
	return fn(ctx, ev)
}
