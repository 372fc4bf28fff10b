package jobs

import (
	"context"
	"sync"
)

// roundLocks serialises, within one process, the rounds of one interaction:
// two deliveries of the same requires_action (two delivery ids, or a
// redelivery while the first still runs, as the local queue's lanes do)
// must not both run a tool whose outcome is not recorded yet. The second
// waits, then reads the record again and finds the outcomes and the
// continuation the first wrote. Across instances the ledger's record is
// what they share (see runTools for the window that leaves).
type roundLocks struct {
	mu    sync.Mutex
	held  map[string]chan struct{} // interaction → closed when its holder unlocks
	ready sync.Once
}

// lock takes id's lock, waiting for its holder, or fails when ctx ends.
// The returned function releases it.
func (l *roundLocks) lock(ctx context.Context, id string) (func(), error) {
	l.ready.Do(func() { l.held = make(map[string]chan struct{}) })
	for {
		l.mu.Lock()
		wait, busy := l.held[id]
		if !busy {
			done := make(chan struct{})
			l.held[id] = done
			l.mu.Unlock()
			return func() {
				l.mu.Lock()
				delete(l.held, id)
				l.mu.Unlock()
				close(done)
			}, nil
		}
		l.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
