package bolt

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/storetest"
)

func open(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) core.Store { return open(t, filepath.Join(t.TempDir(), "state.db")) })
}

// Records survive closing and reopening the file: a restarted local server
// still knows what it processed.
func TestSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	now := time.Now()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	c := core.Claim{Key: "msg_1", Owner: "a", BodyHash: core.HashBody([]byte("x")), Now: now, LeaseUntil: now.Add(time.Minute)}
	if _, err := s.Claim(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(ctx, c, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutDeadLetter(ctx, core.DeadLetter{Key: "msg_bad", Reason: "invalid JSON", Body: []byte("{")}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = open(t, path)
	c2 := c
	c2.Owner = "b"
	if r, err := s.Claim(ctx, c2); err != nil || r != core.Duplicate {
		t.Fatalf("after restart: %v %v, want duplicate", r, err)
	}
	dl, err := s.ListDeadLetters(ctx, 10)
	if err != nil || len(dl) != 1 || dl[0].Reason != "invalid JSON" {
		t.Fatalf("dead letters after restart: %+v %v", dl, err)
	}
}

func TestSweep(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	now := time.Now()
	for i := 0; i < 10; i++ {
		c := core.Claim{Key: fmt.Sprint("k", i), Owner: "a", Now: now, LeaseUntil: now.Add(time.Minute)}
		if _, err := s.Claim(ctx, c); err != nil {
			t.Fatal(err)
		}
		keep := now.Add(time.Hour)
		if i%2 == 0 {
			keep = now.Add(-time.Second)
		}
		if err := s.Complete(ctx, c, keep); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.Sweep(now)
	if err != nil || n != 5 {
		t.Fatalf("swept %d, %v; want 5", n, err)
	}
	if rec, _ := s.Get("k1"); rec == nil {
		t.Fatal("live record swept")
	}
	if rec, _ := s.Get("k0"); rec != nil {
		t.Fatal("expired record kept")
	}
}

// Concurrent new deliveries are grouped into shared commits (bbolt Batch):
// this measures claim+complete throughput with fsync on.
func BenchmarkClaimCompleteParallel(b *testing.B) {
	ctx := context.Background()
	s := open(b, filepath.Join(b.TempDir(), "state.db"))
	now := time.Now()
	var mu sync.Mutex
	n := 0
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mu.Lock()
			n++
			key := fmt.Sprint("k", n)
			mu.Unlock()
			c := core.Claim{Key: key, Owner: "o", Now: now, LeaseUntil: now.Add(time.Minute)}
			if _, err := s.Claim(ctx, c); err != nil {
				b.Fatal(err)
			}
			if err := s.Complete(ctx, c, now.Add(time.Hour)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
