package core

import (
	"context"
	"time"
)

// DeadLetter is a verified delivery that could not be processed: a body that
// is not a v1 envelope, or a job that kept failing. It is kept with its
// reason so an operator can look at it and replay it; nothing is dropped.
type DeadLetter struct {
	Key        string    `json:"key"` // delivery id
	Scheme     Scheme    `json:"scheme"`
	EventType  string    `json:"event_type,omitempty"`
	Reason     string    `json:"reason"`
	Body       []byte    `json:"body"`
	ReceivedAt time.Time `json:"received_at"`
	Attempts   int       `json:"attempts,omitempty"`
}

// DeadLetters keeps dead letters durably. Put must be idempotent per Key.
type DeadLetters interface {
	PutDeadLetter(ctx context.Context, d DeadLetter) error
	ListDeadLetters(ctx context.Context, limit int) ([]DeadLetter, error)
	DeleteDeadLetter(ctx context.Context, key string) error
}

func (m *MemoryStore) PutDeadLetter(_ context.Context, d DeadLetter) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.dead {
		if m.dead[i].Key == d.Key {
			m.dead[i] = d
			return nil
		}
	}
	if len(m.dead) >= m.limit {
		return ErrStoreFull
	}
	m.dead = append(m.dead, d)
	return nil
}

func (m *MemoryStore) ListDeadLetters(_ context.Context, limit int) ([]DeadLetter, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if limit <= 0 || limit > len(m.dead) {
		limit = len(m.dead)
	}
	return append([]DeadLetter(nil), m.dead[:limit]...), nil
}

func (m *MemoryStore) DeleteDeadLetter(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.dead {
		if m.dead[i].Key == key {
			m.dead = append(m.dead[:i], m.dead[i+1:]...)
			return nil
		}
	}
	return nil
}
