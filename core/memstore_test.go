package core_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/storetest"
)

func TestMemoryStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) core.Store { return core.NewMemoryStore(0) })
}

func TestMemoryDeadLetters(t *testing.T) {
	storetest.RunDeadLetters(t, func(t *testing.T) (core.DeadLetters, core.DeadLetters) {
		m := core.NewMemoryStore(0)
		return m, m
	})
}

// The memory store is bounded: finished keys expire and are swept, and a
// store full of live keys refuses new ones instead of forgetting old ones.
func TestMemoryStoreBounded(t *testing.T) {
	ctx := context.Background()
	s := core.NewMemoryStore(100)
	now := time.Unix(1_800_000_000, 0)
	for i := 0; i < 100; i++ {
		c := core.Claim{Key: fmt.Sprint("k", i), Owner: "o", Now: now, LeaseUntil: now.Add(time.Minute)}
		if r, err := s.Claim(ctx, c); err != nil || r != core.Claimed {
			t.Fatalf("claim %d: %v %v", i, r, err)
		}
		if err := s.Complete(ctx, c, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.Claim(ctx, core.Claim{Key: "overflow", Owner: "o", Now: now, LeaseUntil: now.Add(time.Minute)})
	if !errors.Is(err, core.ErrStoreFull) {
		t.Fatalf("claim into a full store: %v, want ErrStoreFull", err)
	}
	// Duplicates of live keys are still recognised while full.
	if r, err := s.Claim(ctx, core.Claim{Key: "k7", Owner: "p", Now: now, LeaseUntil: now.Add(time.Minute)}); err != nil || r != core.Duplicate {
		t.Fatalf("duplicate while full: %v %v", r, err)
	}
	// Once the TTL passes, the keys are swept and room comes back.
	later := now.Add(2 * time.Hour)
	for i := 0; i < 1000; i++ {
		c := core.Claim{Key: fmt.Sprint("new", i), Owner: "o", Now: later, LeaseUntil: later.Add(time.Minute)}
		if _, err := s.Claim(ctx, c); err != nil {
			t.Fatalf("claim %d after expiry: %v", i, err)
		}
		if err := s.Complete(ctx, c, later.Add(time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		later = later.Add(time.Second)
	}
	if n := s.Len(); n > 100 {
		t.Fatalf("store holds %d records, limit 100", n)
	}
}

func BenchmarkMemoryStoreClaimComplete(b *testing.B) {
	ctx := context.Background()
	s := core.NewMemoryStore(0)
	now := time.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c := core.Claim{Key: fmt.Sprint("k", i), Owner: "o", Now: now, LeaseUntil: now.Add(time.Minute)}
		if _, err := s.Claim(ctx, c); err != nil {
			b.Fatal(err)
		}
		if err := s.Complete(ctx, c, now.Add(time.Millisecond)); err != nil {
			b.Fatal(err)
		}
		now = now.Add(time.Microsecond)
	}
}

// BenchmarkMemoryStoreBytesPerRecord is the live heap one completed
// delivery's record costs, with realistic ids, owners and event types
// (b.N is ignored: it always holds 100,000 records).
func BenchmarkMemoryStoreBytesPerRecord(b *testing.B) {
	const n = 100_000
	ctx := context.Background()
	now := time.Now()
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		s := core.NewMemoryStore(n)
		for i := range n {
			c := core.Claim{Key: fmt.Sprintf("msg_%024d", i), Owner: core.NewOwner(), BodyHash: core.HashBody([]byte(fmt.Sprint(i))),
				EventType: string([]byte("batch.succeeded")), Now: now, LeaseUntil: now.Add(time.Minute)}
			if _, err := s.Claim(ctx, c); err != nil {
				b.Fatal(err)
			}
			if err := s.Complete(ctx, c, now.Add(48*time.Hour)); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/record")
		runtime.KeepAlive(s)
	}
}
