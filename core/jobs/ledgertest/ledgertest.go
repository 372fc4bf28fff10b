// Package ledgertest is the conformance suite of jobs.Ledger (RunLedger)
// and tasks.Store (RunTasks): every implementation (memory, bbolt,
// Firestore) runs it against the real store, and a ledger of your own
// should too:
//
//	func TestLedgerConformance(t *testing.T) {
//		ledgertest.RunLedger(t, func(t *testing.T) jobs.Ledger { return jobs.NewMemoryLedger(0) })
//	}
package ledgertest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
	"github.com/geminiwebhooks/receiver/core/tasks"
)

// RunLedger checks open()'s ledger; each subtest gets a fresh one.
func RunLedger(t *testing.T, open func(t *testing.T) jobs.Ledger) {
	ctx := context.Background()
	// Firestore keeps microseconds; the suite compares times after that.
	now := time.Now().UTC().Truncate(time.Millisecond)
	event := func(typ, id, delivery string, at time.Time) *core.Event {
		ev := &core.Event{Type: typ, Version: "v1", Timestamp: at.Format(time.RFC3339Nano), Delivery: core.Delivery{ID: delivery}}
		ev.Data.ID = id
		return ev
	}
	apply := func(ev *core.Event, at time.Time) func(*jobs.Job) (*jobs.Job, error) {
		return func(j *jobs.Job) (*jobs.Job, error) { return jobs.ApplyEvent(j, ev, at), nil }
	}

	t.Run("absent job", func(t *testing.T) {
		l := open(t)
		j, err := l.GetJob(ctx, "batches/none")
		if err != nil || j != nil {
			t.Fatalf("GetJob(absent) = %+v, %v; want nil, nil", j, err)
		}
	})

	t.Run("every field round-trips", func(t *testing.T) {
		l := open(t)
		want := &jobs.Job{
			ID: "batches/rt-1", Kind: "batch", State: jobs.JobSucceeded, StateAt: now.Add(-time.Minute),
			APIState: "JOB_STATE_SUCCEEDED", LastEvent: core.BatchSucceeded, Events: []string{core.BatchSucceeded},
			FirstSeen: now.Add(-time.Hour), UpdatedAt: now, FinishedAt: now,
			ErrorCode: "3", ErrorMessage: "bad line",
			UserMetadata: map[string]any{"job_group": "nightly", "priority": "high"},
			Deliveries:   []string{"msg_a", "msg_b"},
			Source:       "files/out-1", Landing: jobs.LandingLanded, LandingAttempts: 2, LandingError: "",
			LandingOwner: "", LandingLease: time.Time{},
			Output: &jobs.Manifest{
				JobID: "batches/rt-1", Source: "files/out-1", URI: "file:///tmp/x/results.jsonl", ContentType: "application/jsonl",
				Bytes: 1234, SHA256: "ab", Lines: 10, SucceededLines: 8, FailedLines: 2, LandedAt: now,
			},
			ManifestURI: "file:///tmp/x/manifest.json",
			Notices:     map[string]jobs.Notice{"forward:batch.succeeded": {DeliveryID: "msg_a", SentAt: now}},
		}
		// An interaction's tools conversation round-trips too.
		want.Conversation, want.Round, want.Continuation = "interactions/first", 3, "interactions/next"
		want.ToolRuns = map[string]jobs.ToolRun{
			"call_1": {Name: "get_weather", Result: `{"temp_c":21}`, Duration: 1500 * time.Microsecond, FinishedAt: now},
			"call_2": {Name: "nope", Result: "no tool named nope", IsError: true, FinishedAt: now},
		}
		if _, err := l.UpdateJob(ctx, want.ID, func(*jobs.Job) (*jobs.Job, error) { return want.Clone(), nil }); err != nil {
			t.Fatal(err)
		}
		got, err := l.GetJob(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !equalJobs(got, want) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
		}
	})

	t.Run("fn error writes nothing", func(t *testing.T) {
		l := open(t)
		if _, err := l.UpdateJob(ctx, "batches/e", apply(event(core.BatchFailed, "batches/e", "msg_1", now), now)); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("boom")
		_, err := l.UpdateJob(ctx, "batches/e", func(j *jobs.Job) (*jobs.Job, error) {
			j.State = jobs.JobSucceeded // a careless fn changing its input must not leak either
			return nil, boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("UpdateJob error = %v, want boom", err)
		}
		got, _ := l.GetJob(ctx, "batches/e")
		if got.State != jobs.JobFailed {
			t.Fatalf("state after failed update = %s, want failed", got.State)
		}
		// nil, nil: no write, the record as read is returned.
		same, err := l.UpdateJob(ctx, "batches/e", func(*jobs.Job) (*jobs.Job, error) { return nil, nil })
		if err != nil || same == nil || same.State != jobs.JobFailed {
			t.Fatalf("no-op update = %+v, %v", same, err)
		}
	})

	t.Run("state only moves forward", func(t *testing.T) {
		l := open(t)
		id := "interactions/fwd"
		steps := []struct {
			typ  string
			at   time.Time
			want jobs.JobState
		}{
			{core.InteractionRequiresAction, now, jobs.JobRequiresAction},
			{core.InteractionCompleted, now.Add(time.Second), jobs.JobSucceeded},
			{core.InteractionFailed, now.Add(2 * time.Second), jobs.JobSucceeded},      // terminal stays
			{core.InteractionRequiresAction, now.Add(-time.Second), jobs.JobSucceeded}, // late event
			{core.InteractionCancelled, now.Add(3 * time.Second), jobs.JobSucceeded},   // terminal stays
		}
		for i, s := range steps {
			j, err := l.UpdateJob(ctx, id, apply(event(s.typ, id, fmt.Sprint("msg_", i), s.at), now))
			if err != nil {
				t.Fatal(err)
			}
			if j.State != s.want {
				t.Fatalf("after %s: state %s, want %s", s.typ, j.State, s.want)
			}
		}
		j, _ := l.GetJob(ctx, id)
		if len(j.Deliveries) != len(steps) || j.ErrorMessage != "" {
			t.Fatalf("deliveries %v error %q: want all %d deliveries and no error", j.Deliveries, j.ErrorMessage, len(steps))
		}
	})

	t.Run("concurrent updates lose nothing", func(t *testing.T) {
		l := open(t)
		id := "batches/conc"
		const n = 6 // static and dynamic deliveries and their retries, at once
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := l.UpdateJob(ctx, id, apply(event(core.BatchSucceeded, id, fmt.Sprintf("msg_%02d", i), now), now))
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		j, _ := l.GetJob(ctx, id)
		if len(j.Deliveries) != n {
			t.Fatalf("%d deliveries recorded, want %d: %v", len(j.Deliveries), n, j.Deliveries)
		}
	})

	t.Run("one landing claim wins", func(t *testing.T) {
		l := open(t)
		id := "batches/claim"
		st := jobs.BatchStatus{Name: id, APIState: "JOB_STATE_SUCCEEDED", State: jobs.JobSucceeded, OutputFile: "files/o"}
		if _, err := l.UpdateJob(ctx, id, func(j *jobs.Job) (*jobs.Job, error) { return jobs.ApplyBatchStatus(j, st, now), nil }); err != nil {
			t.Fatal(err)
		}
		const n = 6
		verdicts := make([]jobs.LandingVerdict, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				owner := fmt.Sprint("owner-", i)
				_, err := l.UpdateJob(ctx, id, func(j *jobs.Job) (*jobs.Job, error) {
					var next *jobs.Job
					verdicts[i], next = jobs.ClaimLanding(j, owner, now, now.Add(time.Minute))
					return next, nil
				})
				if err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		claimed, busy, winner := 0, 0, -1
		for i, v := range verdicts {
			switch v {
			case jobs.LandingClaimed:
				claimed++
				winner = i
			case jobs.LandingBusy:
				busy++
			}
		}
		if claimed != 1 || busy != n-1 {
			t.Fatalf("verdicts %v: want exactly one claimed, the rest busy", verdicts)
		}
		// Only the winner may finish; afterwards everyone sees it done.
		loser := fmt.Sprint("owner-", (winner+1)%n)
		_, err := l.UpdateJob(ctx, id, func(j *jobs.Job) (*jobs.Job, error) {
			return jobs.FinishLanding(j, loser, jobs.Manifest{}, "", now)
		})
		if !errors.Is(err, core.ErrNotOwner) {
			t.Fatalf("loser FinishLanding: %v, want ErrNotOwner", err)
		}
		m := jobs.Manifest{JobID: id, Bytes: 5}
		if _, err := l.UpdateJob(ctx, id, func(j *jobs.Job) (*jobs.Job, error) {
			return jobs.FinishLanding(j, fmt.Sprint("owner-", winner), m, "mem://m", now)
		}); err != nil {
			t.Fatal(err)
		}
		var v jobs.LandingVerdict
		if _, err := l.UpdateJob(ctx, id, func(j *jobs.Job) (*jobs.Job, error) {
			var next *jobs.Job
			v, next = jobs.ClaimLanding(j, "late", now.Add(time.Hour), now.Add(2*time.Hour))
			return next, nil
		}); err != nil || v != jobs.LandingDone {
			t.Fatalf("claim after landing = %v, %v; want LandingDone", v, err)
		}
	})

	t.Run("list newest first", func(t *testing.T) {
		l := open(t)
		for i := range 3 {
			id := fmt.Sprint("batches/list-", i)
			at := now.Add(time.Duration(i) * time.Second)
			if _, err := l.UpdateJob(ctx, id, apply(event(core.BatchExpired, id, "m", at), at)); err != nil {
				t.Fatal(err)
			}
		}
		all, err := l.ListJobs(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 3 || all[0].ID != "batches/list-2" || all[2].ID != "batches/list-0" {
			t.Fatalf("ListJobs = %v, want list-2, list-1, list-0", ids(all))
		}
		two, err := l.ListJobs(ctx, 2)
		if err != nil || len(two) != 2 {
			t.Fatalf("ListJobs(2) = %v, %v", ids(two), err)
		}
	})
}

// RunTasks checks open()'s task store.
func RunTasks(t *testing.T, open func(t *testing.T) tasks.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	s := open(t)
	a := tasks.Task{ID: "msg_a", Scheme: core.SchemeStatic, Body: []byte(`{"type":"batch.succeeded"}`), EnqueuedAt: now}
	b := tasks.Task{ID: "msg_b", Scheme: core.SchemeDynamic, Body: []byte(`{}`), EnqueuedAt: now, Attempts: 2, Crashes: 1, NotBefore: now.Add(time.Minute), LastError: "x"}
	for _, tk := range []tasks.Task{a, b} {
		if err := s.PutTask(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	a.Attempts, a.LastError = 1, "boom"
	if err := s.PutTask(ctx, a); err != nil { // replace
		t.Fatal(err)
	}
	got, err := s.ListTasks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("ListTasks = %d tasks, want 2", len(got))
	}
	for _, g := range got {
		want := a
		if g.ID == "msg_b" {
			want = b
		}
		if g.ID != want.ID || g.Scheme != want.Scheme || string(g.Body) != string(want.Body) || !g.EnqueuedAt.Equal(want.EnqueuedAt) ||
			g.Attempts != want.Attempts || g.Crashes != want.Crashes || !g.NotBefore.Equal(want.NotBefore) || g.LastError != want.LastError {
			t.Fatalf("task %s = %+v, want %+v", g.ID, g, want)
		}
	}
	if err := s.DeleteTask(ctx, "msg_a"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTask(ctx, "msg_absent"); err != nil {
		t.Fatalf("delete absent: %v", err)
	}
	got, _ = s.ListTasks(ctx)
	if len(got) != 1 || got[0].ID != "msg_b" {
		t.Fatalf("after delete: %+v", got)
	}
}

func ids(js []jobs.Job) []string {
	out := make([]string, len(js))
	for i, j := range js {
		out[i] = j.ID
	}
	return out
}

// equalJobs compares jobs with time.Equal for times.
func equalJobs(a, b *jobs.Job) bool {
	norm := func(j *jobs.Job) *jobs.Job {
		c := j.Clone()
		for _, t := range []*time.Time{&c.StateAt, &c.FirstSeen, &c.UpdatedAt, &c.FinishedAt, &c.LandingLease} {
			*t = t.UTC()
		}
		if c.Output != nil {
			c.Output.LandedAt = c.Output.LandedAt.UTC()
		}
		for k, n := range c.Notices {
			n.SentAt = n.SentAt.UTC()
			c.Notices[k] = n
		}
		for k, r := range c.ToolRuns {
			r.FinishedAt = r.FinishedAt.UTC()
			c.ToolRuns[k] = r
		}
		return c
	}
	return reflect.DeepEqual(norm(a), norm(b))
}
