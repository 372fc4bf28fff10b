package gcf

import (
	"context"
	"sync"
	"sync/atomic"
)

// lazy builds a value once, on first use, so a cold start makes no network
// call before it must. A failed build is retried by the next call; the
// context a build gets lives as long as the value (its background
// goroutines), never as long as one request.
type lazy[T any] struct {
	v    atomic.Pointer[T] // read lock-free on every request once built
	mu   sync.Mutex        // serialises building and closing
	stop context.CancelFunc
}

// get returns the value, building it with build if there is none yet.
func (l *lazy[T]) get(build func(ctx context.Context) (*T, error)) (*T, error) {
	if v := l.v.Load(); v != nil {
		return v, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if v := l.v.Load(); v != nil {
		return v, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	v, err := build(ctx)
	if err != nil {
		cancel() // ends anything the failed build started in the background
		return nil, err
	}
	l.stop = cancel
	l.v.Store(v)
	return v, nil
}

// close releases a built value with release; without one it does nothing.
func (l *lazy[T]) close(release func(*T) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	v := l.v.Swap(nil)
	if v == nil {
		return nil
	}
	l.stop()
	return release(v)
}
