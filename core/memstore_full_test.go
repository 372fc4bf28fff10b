package core_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/core"
)

// fillStore completes n records kept for ttl from now.
func fillStore(tb testing.TB, s *core.MemoryStore, n int, now time.Time, ttl time.Duration) {
	tb.Helper()
	ctx := context.Background()
	for i := 0; i < n; i++ {
		c := core.Claim{Key: fmt.Sprint("k", i), Owner: "o", Now: now, LeaseUntil: now.Add(time.Minute)}
		if _, err := s.Claim(ctx, c); err != nil {
			tb.Fatal(err)
		}
		if err := s.Complete(ctx, c, now.Add(ttl)); err != nil {
			tb.Fatal(err)
		}
	}
}

// Issue 13, finding 7: records expiring out of order (short leases behind
// long TTLs) are swept in time order, so a store full of completed keys
// takes a new claim as soon as one in-progress claim's lease has run out.
// The old sweep stopped at the first live mark and relied on an O(n) full
// sweep per claim once full.
func TestMemoryStoreSweepsOutOfOrderExpiries(t *testing.T) {
	tests := []struct {
		name    string
		limit   int
		advance time.Duration
		want    error
		held    int // records held after the claim: the expired one is gone
	}{
		{"full, lease still live: refused", 10, 30 * time.Second, core.ErrStoreFull, 10},
		{"full, lease over: room", 10, 2 * time.Minute, nil, 10},
		{"not full, lease over: swept all the same", 100, 2 * time.Minute, nil, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			now := time.Unix(1_800_000_000, 0)
			s := core.NewMemoryStore(tc.limit)
			fillStore(t, s, 9, now, 48*time.Hour)
			// The tenth record is in progress with a one-minute lease, marked after the long ones.
			if _, err := s.Claim(ctx, core.Claim{Key: "crashed", Owner: "o", Now: now, LeaseUntil: now.Add(time.Minute)}); err != nil {
				t.Fatal(err)
			}
			at := now.Add(tc.advance)
			_, err := s.Claim(ctx, core.Claim{Key: "new", Owner: "o", Now: at, LeaseUntil: at.Add(time.Minute)})
			if !errors.Is(err, tc.want) {
				t.Fatalf("claim: %v, want %v", err, tc.want)
			}
			if n := s.Len(); n != tc.held {
				t.Fatalf("%d records held, want %d (expired records must not hold room)", n, tc.held)
			}
			if r, err := s.Claim(ctx, core.Claim{Key: "k3", Owner: "p", Now: at, LeaseUntil: at.Add(time.Minute)}); err != nil || r != core.Duplicate {
				t.Fatalf("duplicate of a live key: %v %v", r, err)
			}
		})
	}
}

// BenchmarkMemoryStoreClaimAtLimit is the claim latency of a new id when the
// store is at its limit (100,000 live records): "full" refuses it, "rolling"
// has one record expiring per claim, as under steady traffic at the limit.
func BenchmarkMemoryStoreClaimAtLimit(b *testing.B) {
	ctx := context.Background()
	b.Run("full", func(b *testing.B) {
		now := time.Unix(1_800_000_000, 0)
		s := core.NewMemoryStore(core.DefaultMemoryStoreLimit)
		fillStore(b, s, core.DefaultMemoryStoreLimit, now, 48*time.Hour)
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			if _, err := s.Claim(ctx, core.Claim{Key: fmt.Sprint("n", i), Owner: "o", Now: now, LeaseUntil: now.Add(time.Minute)}); !errors.Is(err, core.ErrStoreFull) {
				b.Fatal(err)
			}
		}
	})
	b.Run("rolling", func(b *testing.B) {
		now := time.Unix(1_800_000_000, 0)
		s := core.NewMemoryStore(core.DefaultMemoryStoreLimit)
		// Record i expires at now+i µs: each claim below frees exactly one.
		for i := 0; i < core.DefaultMemoryStoreLimit; i++ {
			c := core.Claim{Key: fmt.Sprint("k", i), Owner: "o", Now: now, LeaseUntil: now.Add(time.Minute)}
			if _, err := s.Claim(ctx, c); err != nil {
				b.Fatal(err)
			}
			if err := s.Complete(ctx, c, now.Add(time.Duration(i+1)*time.Microsecond)); err != nil {
				b.Fatal(err)
			}
		}
		at := now
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			at = at.Add(time.Microsecond)
			c := core.Claim{Key: fmt.Sprint("n", i), Owner: "o", Now: at, LeaseUntil: at.Add(time.Minute)}
			if _, err := s.Claim(ctx, c); err != nil {
				b.Fatal(err)
			}
			if err := s.Complete(ctx, c, at.Add(time.Duration(core.DefaultMemoryStoreLimit)*time.Microsecond)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
