package bolt

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/tasks"
)

// A claim is held in memory; the task of the claimed delivery writes it
// completed in its own commit, and the Complete that follows writes nothing
// unless it asks for another time. A task the caller gave up on before its
// write started writes nothing, and leaves the claim to Release.
func TestClaimCompletesWithItsTask(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	q, _ := NewTasks(s.DB())
	now := time.Now()
	body := []byte(`{"type":"batch.succeeded"}`)
	claim := func(key, owner string) core.Claim {
		return core.Claim{Key: key, Owner: owner, BodyHash: core.HashBody(body), Now: now, LeaseUntil: now.Add(time.Minute)}
	}
	txsOf := func(f func()) int64 {
		n := writeTxs.Load()
		f()
		return writeTxs.Load() - n
	}
	verdict := func(c core.Claim) core.ClaimResult {
		t.Helper()
		v, err := s.Claim(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	keep := now.Add(core.DefaultTTL)

	for _, tc := range []struct {
		name      string
		keepUntil time.Time // what Complete asks for
		wantTxs   int64     // of the Complete
	}{
		{"the receiver's TTL", keep, 0},
		{"another time", keep.Add(time.Hour), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "msg_" + tc.name
			a := claim(key, "a")
			if n := txsOf(func() {
				if v := verdict(a); v != core.Claimed {
					t.Fatalf("claim: %v", v)
				}
			}); n != 0 {
				t.Fatalf("the claim took %d transactions, want 0", n)
			}
			if v := verdict(claim(key, "b")); v != core.InProgress {
				t.Fatalf("second claim while held: %v, want in_progress", v)
			}
			if n := txsOf(func() {
				if err := q.PutTask(ctx, tasks.Task{ID: key, Body: body}); err != nil {
					t.Fatal(err)
				}
			}); n != 1 {
				t.Fatalf("the task took %d transactions, want 1", n)
			}
			if rec, _ := s.Get(key); rec == nil || rec.State != core.StateCompleted || !rec.ExpireAt.Equal(keep) {
				t.Fatalf("after the task: %+v, want completed until %v", rec, keep)
			}
			if v := verdict(claim(key, "c")); v != core.Duplicate {
				t.Fatalf("claim after the task: %v, want duplicate", v)
			}
			if n := txsOf(func() {
				if err := s.Complete(ctx, a, tc.keepUntil); err != nil {
					t.Fatal(err)
				}
			}); n != tc.wantTxs {
				t.Fatalf("Complete took %d transactions, want %d", n, tc.wantTxs)
			}
			if rec, _ := s.Get(key); rec == nil || rec.State != core.StateCompleted || !rec.ExpireAt.Equal(tc.keepUntil) {
				t.Fatalf("after Complete: %+v, want completed until %v", rec, tc.keepUntil)
			}
		})
	}

	// Given up before the write started: nothing is written.
	a := claim("msg_gave_up", "a")
	verdict(a)
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := q.PutTask(done, tasks.Task{ID: "msg_gave_up", Body: body}); err == nil {
		// The write won the race with the cancelled context: it is whole.
		if rec, _ := s.Get("msg_gave_up"); rec == nil || rec.State != core.StateCompleted {
			t.Fatalf("a task written without its claim: %+v", rec)
		}
		return
	}
	// A later write returns once the batch the abandoned one joined, or an
	// earlier one, has committed.
	if err := q.PutTask(ctx, tasks.Task{ID: "msg_later", Body: body}); err != nil {
		t.Fatal(err)
	}
	if rec, _ := s.Get("msg_gave_up"); rec != nil {
		t.Fatalf("an abandoned task completed its claim: %+v", rec)
	}
	if ts, _ := q.ListTasks(ctx); len(ts) != 3 || ts[0].ID == "msg_gave_up" || ts[1].ID == "msg_gave_up" || ts[2].ID == "msg_gave_up" {
		t.Fatalf("tasks %+v, want the 2 above and msg_later", ts)
	}
	if err := s.Release(ctx, a); err != nil {
		t.Fatal(err)
	}
	if v := verdict(claim("msg_gave_up", "b")); v != core.Claimed {
		t.Fatalf("claim after Release: %v", v)
	}
}

// A held claim whose lease ended without a Complete or Release (one that
// could not be written) leaves memory at a later prune.
func TestHeldClaimsPruned(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	now := time.Now()
	for i := range pruneEvery {
		c := core.Claim{Key: fmt.Sprint("msg_", i), Owner: "a", Now: now, LeaseUntil: now.Add(time.Minute)}
		if i == 0 {
			c.LeaseUntil = now.Add(time.Second)
		}
		if i == pruneEvery-1 {
			c.Now = now.Add(2 * time.Second)
		}
		if _, err := s.Claim(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	s.f.mu.Lock()
	_, kept := s.f.claims["msg_0"]
	n := len(s.f.claims)
	s.f.mu.Unlock()
	if kept || n != pruneEvery-1 {
		t.Fatalf("after the prune: msg_0 kept %v, %d held; want it gone, %d held", kept, n, pruneEvery-1)
	}
}
