package bolt

import (
	"context"
	"maps"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/reconcile"
)

// TestOutcomesHourly: counts stay in memory until a flush (no write per
// delivery), land in their UTC hour, survive a reopen, and a sum from an
// hour on covers that hour and the later ones only.
func TestOutcomesHourly(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	s := open(t, path)
	o := NewOutcomes(s, time.Hour) // no tick during the test: flushes are explicit
	noon := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	at := map[time.Time][]core.Outcome{
		noon.Add(10 * time.Minute):  {core.OutcomeProcessed, core.OutcomeProcessed, core.OutcomeDuplicate},
		noon.Add(-50 * time.Minute): {core.OutcomeProcessed, core.OutcomeRejected},
		noon.Add(-30 * time.Hour):   {core.OutcomeFailed},
	}
	var wg sync.WaitGroup
	for t0, outs := range at {
		for _, out := range outs {
			wg.Add(1)
			go func() { defer wg.Done(); o.ObserveDelivery(out, t0) }()
		}
	}
	wg.Wait()
	if got, err := s.DeliveriesSince(ctx, noon.Add(-48*time.Hour)); err != nil || len(got) != 0 {
		t.Fatalf("before a flush the file holds %v (%v), want nothing", got, err)
	}
	if err := o.Flush(); err != nil {
		t.Fatal(err)
	}
	o.ObserveDelivery(core.OutcomeProcessed, noon.Add(20*time.Minute)) // added to the hour already in the file
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, path)
	tests := []struct {
		name string
		from time.Time
		want map[core.Outcome]int64
	}{
		{"this hour", noon, map[core.Outcome]int64{core.OutcomeProcessed: 3, core.OutcomeDuplicate: 1}},
		{"from mid last hour: the whole hour", noon.Add(-30 * time.Minute), map[core.Outcome]int64{core.OutcomeProcessed: 4, core.OutcomeDuplicate: 1, core.OutcomeRejected: 1}},
		{"two days", noon.Add(-48 * time.Hour), map[core.Outcome]int64{core.OutcomeProcessed: 4, core.OutcomeDuplicate: 1, core.OutcomeRejected: 1, core.OutcomeFailed: 1}},
		{"later", noon.Add(2 * time.Hour), map[core.Outcome]int64{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.DeliveriesSince(ctx, tc.from)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestOutcomesPruned: hours older than keepOutcomes before the newest hour
// counted are dropped at the flush.
func TestOutcomesPruned(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	o := NewOutcomes(s, time.Hour)
	noon := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	o.ObserveDelivery(core.OutcomeProcessed, noon.Add(-keepOutcomes-time.Hour))
	if err := o.Flush(); err != nil {
		t.Fatal(err)
	}
	o.ObserveDelivery(core.OutcomeQueued, noon)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := s.DeliveriesSince(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[core.Outcome]int64{core.OutcomeQueued: 1}; !maps.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// TestOutcomesFlushTicks: the loop flushes by itself.
func TestOutcomesFlushTicks(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	o := NewOutcomes(s, 10*time.Millisecond)
	defer o.Close()
	now := time.Now()
	o.ObserveDelivery(core.OutcomeProcessed, now)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		got, err := s.DeliveriesSince(context.Background(), now.Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if got[core.OutcomeProcessed] == 1 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("not flushed within 5 s")
}

// TestLastRun: nothing before the first run; then the newest run, across
// a reopen.
func TestLastRun(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	s := open(t, path)
	if r, err := s.LastRun(ctx); err != nil || r != nil {
		t.Fatalf("before any run: %v, %v; want nil, nil", r, err)
	}
	at := time.Date(2026, 12, 1, 11, 48, 0, 0, time.UTC)
	for _, r := range []reconcile.LastRun{{At: at.Add(-15 * time.Minute), Seen: 1}, {At: at, Took: 2 * time.Second, Seen: 40, Applied: 2, Failed: 1, Error: "list: 503"}} {
		if err := s.PutLastRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s = open(t, path)
	r, err := s.LastRun(ctx)
	if err != nil || r == nil {
		t.Fatalf("%v, %v", r, err)
	}
	if want := (reconcile.LastRun{At: at, Took: 2 * time.Second, Seen: 40, Applied: 2, Failed: 1, Error: "list: 503"}); !r.At.Equal(want.At) || r.Seen != 40 || r.Applied != 2 || r.Failed != 1 || r.Took != want.Took || r.Error != want.Error {
		t.Fatalf("got %+v, want %+v", *r, want)
	}
}
