// Package storetest is the conformance suite every core.Store runs: the
// claim rules of core.Store (owned claims with a lease and the body's
// SHA-256; absent → in_progress → completed; expired counts as absent),
// checked against the real store. The memory, file (adapters/bolt),
// Firestore and DynamoDB stores run it, and a store of your own should too:
//
//	func TestStoreConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) core.Store { return core.NewMemoryStore(0) })
//	}
//
// RunDeadLetters is the same for core.DeadLetters, and RunOutage for a store
// that becomes unreachable mid-stream. The receiver-level helpers (Counter,
// Clock, NewReceiver, Signed, DeliverUntil2xx) are what those suites and the
// stores' own round-trip tests share.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/core"
)

// Run checks open()'s store. Each subtest gets a fresh store from open.
func Run(t *testing.T, open func(t *testing.T) core.Store) {
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	body := core.HashBody([]byte(`{"type":"batch.succeeded"}`))
	other := core.HashBody([]byte(`{"type":"batch.failed"}`))
	claim := func(key, owner string, at time.Time, hash [32]byte) core.Claim {
		return core.Claim{Key: key, Owner: owner, BodyHash: hash, EventType: "batch.succeeded", Now: at, LeaseUntil: at.Add(time.Minute)}
	}
	mustClaim := func(t *testing.T, s core.Store, c core.Claim, want core.ClaimResult) {
		t.Helper()
		got, err := s.Claim(ctx, c)
		if err != nil || got != want {
			t.Fatalf("Claim(%s by %s at %s) = %v, %v; want %v", c.Key, c.Owner, c.Now.Format(time.TimeOnly), got, err, want)
		}
	}

	t.Run("new then duplicate", func(t *testing.T) {
		s := open(t)
		c := claim("id/1", "a", now, body)
		mustClaim(t, s, c, core.Claimed)
		if err := s.Complete(ctx, c, now.Add(48*time.Hour)); err != nil {
			t.Fatal(err)
		}
		mustClaim(t, s, claim("id/1", "b", now.Add(time.Second), body), core.Duplicate)
		mustClaim(t, s, claim("id/1", "c", now.Add(47*time.Hour), body), core.Duplicate)
	})
	t.Run("in progress, then lease runs out and is taken over", func(t *testing.T) {
		s := open(t)
		a := claim("id-2", "a", now, body)
		mustClaim(t, s, a, core.Claimed)
		mustClaim(t, s, claim("id-2", "b", now.Add(30*time.Second), body), core.InProgress)
		b := claim("id-2", "b", now.Add(61*time.Second), body)
		mustClaim(t, s, b, core.Claimed)
		// The crashed owner waking up can no longer finish or free the claim.
		if err := s.Complete(ctx, a, now.Add(48*time.Hour)); !errors.Is(err, core.ErrNotOwner) {
			t.Fatalf("stale owner Complete: %v, want ErrNotOwner", err)
		}
		if err := s.Release(ctx, a); !errors.Is(err, core.ErrNotOwner) {
			t.Fatalf("stale owner Release: %v, want ErrNotOwner", err)
		}
		mustClaim(t, s, claim("id-2", "c", now.Add(62*time.Second), body), core.InProgress)
		if err := s.Complete(ctx, b, now.Add(48*time.Hour)); err != nil {
			t.Fatal(err)
		}
		mustClaim(t, s, claim("id-2", "c", now.Add(63*time.Second), body), core.Duplicate)
	})
	t.Run("different body is a conflict", func(t *testing.T) {
		s := open(t)
		a := claim("id-3", "a", now, body)
		mustClaim(t, s, a, core.Claimed)
		mustClaim(t, s, claim("id-3", "b", now, other), core.Conflict)
		if err := s.Complete(ctx, a, now.Add(48*time.Hour)); err != nil {
			t.Fatal(err)
		}
		mustClaim(t, s, claim("id-3", "b", now.Add(time.Second), other), core.Conflict)
	})
	t.Run("release by a non-owner has no effect", func(t *testing.T) {
		s := open(t)
		a := claim("id-4", "a", now, body)
		mustClaim(t, s, a, core.Claimed)
		if err := s.Release(ctx, claim("id-4", "intruder", now, body)); !errors.Is(err, core.ErrNotOwner) {
			t.Fatalf("non-owner Release: %v, want ErrNotOwner", err)
		}
		if err := s.Complete(ctx, claim("id-4", "intruder", now, body), now.Add(time.Hour)); !errors.Is(err, core.ErrNotOwner) {
			t.Fatalf("non-owner Complete: %v, want ErrNotOwner", err)
		}
		mustClaim(t, s, claim("id-4", "b", now.Add(time.Second), body), core.InProgress)
		if err := s.Release(ctx, a); err != nil {
			t.Fatal(err)
		}
		mustClaim(t, s, claim("id-4", "b", now.Add(2*time.Second), body), core.Claimed)
	})
	t.Run("completed record past its TTL counts as absent", func(t *testing.T) {
		s := open(t)
		a := claim("id-5", "a", now, body)
		mustClaim(t, s, a, core.Claimed)
		if err := s.Complete(ctx, a, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		mustClaim(t, s, claim("id-5", "b", now.Add(2*time.Hour), other), core.Claimed)
	})
	t.Run("complete or release of an unknown key", func(t *testing.T) {
		s := open(t)
		if err := s.Complete(ctx, claim("nope", "a", now, body), now.Add(time.Hour)); !errors.Is(err, core.ErrNotOwner) {
			t.Fatalf("Complete unknown: %v", err)
		}
		if err := s.Release(ctx, claim("nope", "a", now, body)); !errors.Is(err, core.ErrNotOwner) {
			t.Fatalf("Release unknown: %v", err)
		}
	})
	// Concurrent claims, of a new id and of one whose record expired and
	// must be taken over (a crashed owner's lease; a completed record past
	// its TTL that the database has not deleted yet).
	for _, setup := range []struct {
		name string
		past func(t *testing.T, s core.Store)
	}{
		{"new", func(*testing.T, core.Store) {}},
		{"expired lease", func(t *testing.T, s core.Store) {
			mustClaim(t, s, claim("id-race", "crashed", now.Add(-time.Hour), body), core.Claimed)
		}},
		{"expired completed record", func(t *testing.T, s core.Store) {
			old := claim("id-race", "old", now.Add(-time.Hour), body)
			mustClaim(t, s, old, core.Claimed)
			if err := s.Complete(ctx, old, now.Add(-time.Minute)); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run("50 concurrent claims of one id, "+setup.name+": exactly one wins", func(t *testing.T) {
			s := open(t)
			setup.past(t, s)
			var wg sync.WaitGroup
			results := make(chan core.ClaimResult, 50)
			errs := make(chan error, 50)
			for i := 0; i < 50; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					r, err := s.Claim(ctx, claim("id-race", fmt.Sprint("owner-", i), now, body))
					if err != nil {
						errs <- err
						return
					}
					results <- r
				}(i)
			}
			wg.Wait()
			close(results)
			close(errs)
			for err := range errs {
				t.Fatalf("claim error: %v", err)
			}
			won := 0
			for r := range results {
				switch r {
				case core.Claimed:
					won++
				case core.InProgress:
				default:
					t.Fatalf("unexpected verdict %v", r)
				}
			}
			if won != 1 {
				t.Fatalf("%d claims won, want exactly 1", won)
			}
		})
	}
}
