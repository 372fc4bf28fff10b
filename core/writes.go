package core

import "context"

// Writes gathers the store writes that the processing of one queued task
// makes, so that they commit together with the task's outcome (its
// deletion, or its reschedule) in one transaction instead of one commit
// each. The queue of the local file store puts a Writes in the context of
// each attempt (WithWrites); the store that made it reads through it and
// adds to it, and any other store, or a context without one, writes at once.
// A gathered write whose record another writer changed meanwhile fails the
// commit with ErrWriteConflict, and the task runs again.
type Writes interface {
	// Flush commits what is gathered so far; the Writes stays in use.
	Flush(ctx context.Context) error
}

type writesKey struct{}

// WithWrites returns ctx carrying w.
func WithWrites(ctx context.Context, w Writes) context.Context {
	return context.WithValue(ctx, writesKey{}, w)
}

// WritesOf returns the Writes ctx carries, nil when none.
func WritesOf(ctx context.Context) Writes {
	w, _ := ctx.Value(writesKey{}).(Writes)
	return w
}

// WritesNow commits the writes gathered in ctx and returns a context in
// which writes go to the store at once. A step that guards an effect outside
// the store (the lease of a landing before its download, the id of a notice
// before it is sent) uses it: such a write must be durable, and seen by
// other workers, before the effect.
func WritesNow(ctx context.Context) (context.Context, error) {
	w := WritesOf(ctx)
	if w == nil {
		return ctx, nil
	}
	if err := w.Flush(ctx); err != nil {
		return ctx, err
	}
	return context.WithValue(ctx, writesKey{}, nil), nil
}
