package firestore

import (
	"context"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/core/reconcile"
)

// TestLastRun on the emulator: nothing before the first run; then the
// newest run, read by another instance (a run on one cloud, status from
// anywhere); the document is outside the records' collection.
func TestLastRun(t *testing.T) {
	ctx := context.Background()
	cfg := newConfig(t)
	a, b := open(t, cfg), open(t, cfg)
	if r, err := b.LastRun(ctx); err != nil || r != nil {
		t.Fatalf("before any run: %v, %v; want nil, nil", r, err)
	}
	at := time.Date(2026, 12, 1, 11, 48, 0, 0, time.UTC)
	want := reconcile.LastRun{At: at, Took: 1500 * time.Millisecond, Seen: 40, Applied: 2, Landed: 1, Failed: 1, Problems: 1, CutOff: true, Error: "list: 503"}
	for _, r := range []reconcile.LastRun{{At: at.Add(-15 * time.Minute), Seen: 7}, want} {
		if err := a.PutLastRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := b.LastRun(ctx)
	if err != nil || got == nil {
		t.Fatalf("%v, %v", got, err)
	}
	got.At = got.At.UTC()
	if *got != want {
		t.Fatalf("got %+v, want %+v", *got, want)
	}
	n, err := b.records.Documents(ctx).GetAll()
	if err != nil || len(n) != 0 {
		t.Fatalf("records collection holds %d documents (%v), want none", len(n), err)
	}
}
