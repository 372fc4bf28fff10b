package core

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/geminiwebhooks/receiver/core/internal/toolbox"
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
// causes retries. The zero value is not usable: call NewMux.
//
// A mux refuses mistakes where they are made, as http.ServeMux does: On
// panics for a type outside the catalogue (a typo would otherwise leave the
// handler silent while every delivery is answered 2xx), and On, OnNewType,
// Default and Use panic once the mux (or a copy made by With) has served
// its first event, because the routes and the middleware chain are fixed
// then. Register everything before handing the mux to a runtime.
//
// On the log line of each event (the receiver's "delivery" line, a queue
// worker's "task" line) the mux writes "handlers" (ok, failed, panicked, or
// none when no handler is registered for the type) and "handler_ms", the
// time the handlers took.
type Mux struct {
	mu       sync.Mutex // orders registrations before the first event
	frozen   bool       // served an event (or a copy did): no more registrations
	origin   *Mux       // the mux With copied this one from; frozen with it
	routes   map[string][]HandlerFunc
	fallback []HandlerFunc
	mw       []Middleware
	tools    map[string]ToolFunc // Tool

	once    sync.Once
	chain   HandlerFunc
	toolbox *toolbox.Box[ToolFunc] // the tools, for the built-in actions (core/jobs); nil when none
}

// NewMux returns an empty mux: events are accepted and only the built-in
// actions act on them.
func NewMux() *Mux { return &Mux{routes: make(map[string][]HandlerFunc)} }

// On adds handlers for an event type of the catalogue (EventTypes); they
// run after those added before. "batch.completed", which Gemini's guide also
// uses, registers batch.succeeded. Any other type panics, with the list of
// the known ones: use OnNewType for a type Gemini added after this release.
func (m *Mux) On(eventType string, h ...HandlerFunc) *Mux {
	if !KnownEventType(eventType) {
		panic(fmt.Sprintf("core: Mux.On(%q): not an event type of the catalogue%s; known types: %s; "+
			"for a type Gemini added since, use Mux.OnNewType", eventType, didYouMean(eventType), knownTypesList()))
	}
	return m.on("On", eventType, h)
}

// OnNewType adds handlers for an event type the catalogue does not list
// yet (a type Gemini added after this release of the module); a catalogued
// type is accepted too, so the call keeps working once the catalogue
// catches up. Only an empty type, or one with spaces, panics: the check
// against the catalogue that On makes is what this call gives up.
func (m *Mux) OnNewType(eventType string, h ...HandlerFunc) *Mux {
	if eventType == "" || strings.ContainsAny(eventType, " \t\r\n") {
		panic(fmt.Sprintf("core: Mux.OnNewType(%q): an event type is one word such as \"video.generated\"", eventType))
	}
	return m.on("OnNewType", eventType, h)
}

func (m *Mux) on(method, eventType string, h []HandlerFunc) *Mux {
	if eventType == batchCompletedAlias {
		eventType = BatchSucceeded
	}
	return m.register(method, func() {
		m.routes[eventType] = append(m.routes[eventType], h...)
	})
}

// knownTypesList names the catalogue for On's panic.
func knownTypesList() string {
	return strings.Join(EventTypes, ", ") + " (and " + batchCompletedAlias + ", read as " + BatchSucceeded + ")"
}

// didYouMean names the catalogue type closest to t, if it is a few edits away.
func didYouMean(t string) string {
	best, bestD := "", 0
	for _, k := range slices.Concat(EventTypes, []string{batchCompletedAlias}) {
		// More edits than a third of the name is no typo.
		if d := editDistance(strings.ToLower(t), k); d <= len(k)/3 && (best == "" || d < bestD) {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev, cur := make([]int, len(b)+1), make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Default adds handlers for every event type that has none of its own.
func (m *Mux) Default(h ...HandlerFunc) *Mux {
	return m.register("Default", func() { m.fallback = append(m.fallback, h...) })
}

// Use adds middleware around every event's handlers; the first added is the
// outermost.
func (m *Mux) Use(mw ...Middleware) *Mux {
	return m.register("Use", func() { m.mw = append(m.mw, mw...) })
}

// register applies a registration, or panics once the mux has served.
func (m *Mux) register(method string, add func()) *Mux {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.frozen {
		panic("core: Mux." + method + " after the mux served its first event: " +
			"register handlers and middleware before handing the mux to a runtime")
	}
	if m.routes == nil {
		m.routes = make(map[string][]HandlerFunc)
	}
	add()
	return m
}

// With returns a copy of m whose middleware is mw, outermost first, around
// m's own. The copy shares nothing that registration changes: what is
// registered on either afterwards does not reach the other. When the copy
// serves its first event m is frozen too, so that a late registration on m,
// which would never run, panics instead. The runtime adapters use it to put
// the built-in actions before a user's handlers without changing the
// user's mux.
func (m *Mux) With(mw ...Middleware) *Mux {
	m.mu.Lock()
	defer m.mu.Unlock()
	routes := make(map[string][]HandlerFunc, len(m.routes))
	for t, hs := range m.routes {
		routes[t] = slices.Clone(hs)
	}
	return &Mux{
		origin:   m,
		routes:   routes,
		fallback: slices.Clone(m.fallback),
		mw:       append(slices.Clone(mw), m.mw...),
		tools:    maps.Clone(m.tools),
	}
}

// Handlers returns the handlers registered for an event type (the default
// ones when it has none).
func (m *Mux) Handlers(eventType string) []HandlerFunc {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clip(m.handlers(eventType))
}

func (m *Mux) handlers(eventType string) []HandlerFunc {
	if hs, ok := m.routes[eventType]; ok {
		return hs
	}
	return m.fallback
}

// Process runs the middleware and the event's handlers, turning a panic
// anywhere into an error wrapping ErrHandlerPanic. The first call freezes
// the mux (and the mux it was copied from).
func (m *Mux) Process(ctx context.Context, ev *Event) (err error) {
	m.once.Do(m.freeze)
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v\n%s", ErrHandlerPanic, p, debug.Stack())
		}
	}()
	if m.toolbox != nil {
		ctx = toolbox.With(ctx, m.toolbox)
	}
	return m.chain(ctx, ev)
}

// freeze ends registration and builds the middleware chain; from here on
// routes, fallback and mw are only read, without the lock.
func (m *Mux) freeze() {
	m.mu.Lock()
	m.frozen = true
	m.mu.Unlock()
	// Built without the lock: a middleware's constructor may call Handlers.
	h := m.dispatch
	for i := len(m.mw) - 1; i >= 0; i-- {
		h = m.mw[i](h)
	}
	m.chain = h
	if len(m.tools) > 0 {
		m.toolbox = toolbox.New(m.tools)
	}
	for o := m.origin; o != nil; o = o.origin {
		o.mu.Lock()
		o.frozen = true
		o.mu.Unlock()
	}
}

// dispatch runs the handlers in order, stops at the first error, and
// writes their outcome and time on the event's log line.
func (m *Mux) dispatch(ctx context.Context, ev *Event) error {
	hs := m.handlers(ev.Type)
	if len(hs) == 0 {
		AddLineAttrs(ctx, slog.String(lineHandlers, handlersNone))
		return nil
	}
	start := time.Now()
	outcome := handlersPanicked // unless a handler returns
	defer func() {
		AddLineAttrs(ctx, slog.String(lineHandlers, outcome), slog.Float64(lineHandlerMS, roundMS(time.Since(start))))
	}()
	for _, h := range hs {
		if err := h(ctx, ev); err != nil {
			outcome = handlersFailed
			return err
		}
	}
	outcome = handlersOK
	return nil
}
