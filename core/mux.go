package core

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
)

// Processor acts on a verified, claimed event; the Receiver and the queue
// workers call it. An error (or panic) releases the claim and answers 5xx,
// so Gemini (or the queue) delivers the event again.
type Processor interface {
	Process(ctx context.Context, ev *Event) error
}

// HandlerFunc is a user's code for an event: it runs once per verified
// delivery, after the built-in actions (job ledger, landing, notices). An
// error or a panic makes the delivery fail and be retried, and the retry runs
// every handler again: a handler must be idempotent per delivery
// (ev.Delivery.ID) or per job (ev.JobID()).
type HandlerFunc func(ctx context.Context, ev *Event) error

// Process lets a HandlerFunc serve as a Processor.
func (f HandlerFunc) Process(ctx context.Context, ev *Event) error { return f(ctx, ev) }

// Middleware wraps the handling of every event: it may act before or after
// calling next, change the context next sees, or stop by returning an error
// without calling it. The built-in actions are middleware of this kind.
type Middleware func(next HandlerFunc) HandlerFunc

// Mux routes each event to the handlers registered for its type, in
// registration order, behind its middleware. Event types with no handler are
// accepted (the middleware still runs), so a new Gemini event type never
// causes retries. The zero value is not usable: call NewMux. Register
// handlers before the first event is processed.
type Mux struct {
	routes   map[string][]HandlerFunc
	fallback []HandlerFunc
	mw       []Middleware

	once  sync.Once
	chain HandlerFunc
}

// NewMux returns an empty mux: events are accepted and only the built-in
// actions act on them.
func NewMux() *Mux { return &Mux{routes: make(map[string][]HandlerFunc)} }

// On adds handlers for an event type; they run after those added before.
// "batch.completed", which Gemini's guide also uses, registers
// batch.succeeded.
func (m *Mux) On(eventType string, h ...HandlerFunc) *Mux {
	if eventType == batchCompletedAlias {
		eventType = BatchSucceeded
	}
	m.routes[eventType] = append(m.routes[eventType], h...)
	return m
}

// Default adds handlers for every event type that has none of its own.
func (m *Mux) Default(h ...HandlerFunc) *Mux {
	m.fallback = append(m.fallback, h...)
	return m
}

// Use adds middleware around every event's handlers; the first added is the
// outermost.
func (m *Mux) Use(mw ...Middleware) *Mux {
	m.mw = append(m.mw, mw...)
	return m
}

// With returns a mux with the same handlers whose middleware is mw, outermost
// first, around m's own. The runtime adapters use it to put the built-in
// actions before a user's handlers without changing the user's mux.
func (m *Mux) With(mw ...Middleware) *Mux {
	return &Mux{routes: m.routes, fallback: m.fallback, mw: append(append([]Middleware(nil), mw...), m.mw...)}
}

// Handlers returns the handlers registered for an event type (the default
// ones when it has none).
func (m *Mux) Handlers(eventType string) []HandlerFunc {
	if hs, ok := m.routes[eventType]; ok {
		return hs
	}
	return m.fallback
}

// Process runs the middleware and the event's handlers, turning a panic
// anywhere into an error wrapping ErrHandlerPanic.
func (m *Mux) Process(ctx context.Context, ev *Event) (err error) {
	m.once.Do(func() {
		h := m.dispatch
		for i := len(m.mw) - 1; i >= 0; i-- {
			h = m.mw[i](h)
		}
		m.chain = h
	})
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v\n%s", ErrHandlerPanic, p, debug.Stack())
		}
	}()
	return m.chain(ctx, ev)
}

// dispatch runs the handlers in order and stops at the first error.
func (m *Mux) dispatch(ctx context.Context, ev *Event) error {
	for _, h := range m.Handlers(ev.Type) {
		if err := h(ctx, ev); err != nil {
			return err
		}
	}
	return nil
}
