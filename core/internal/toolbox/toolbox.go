// Package toolbox carries the agent tools a core.Mux registered (Mux.Tool)
// to the built-in actions (core/jobs) that run them: the mux puts its Box
// in the context of every event it processes, the actions read it with Of.
// It is generic in the tool's function type so that it needs nothing from
// core, which imports it.
package toolbox

import (
	"context"
	"maps"
	"slices"
)

// Box is the set of tools a mux registered, by name.
type Box[F any] struct{ tools map[string]F }

// New boxes tools as they are; the caller no longer changes the map.
func New[F any](tools map[string]F) *Box[F] { return &Box[F]{tools: tools} }

// Lookup returns the tool registered by name.
func (b *Box[F]) Lookup(name string) (F, bool) {
	if b == nil {
		var zero F
		return zero, false
	}
	fn, ok := b.tools[name]
	return fn, ok
}

// Names lists the registered tools, sorted; nil for a nil Box.
func (b *Box[F]) Names() []string {
	if b == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(b.tools))
}

type key struct{}

// With returns ctx carrying b.
func With[F any](ctx context.Context, b *Box[F]) context.Context {
	return context.WithValue(ctx, key{}, b)
}

// Of returns the Box ctx carries, nil when none (a mux with no tools).
func Of[F any](ctx context.Context) *Box[F] {
	b, _ := ctx.Value(key{}).(*Box[F])
	return b
}
