package reconcile_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/core/jobs"
	"github.com/geminiwebhooks/receiver/core/reconcile"
)

// runLog is a RunLog in memory that counts its writes.
type runLog struct {
	mu     sync.Mutex
	last   *reconcile.LastRun
	writes int
	err    error
}

func (l *runLog) PutLastRun(_ context.Context, r reconcile.LastRun) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	if l.err != nil {
		return l.err
	}
	l.last = &r
	return nil
}

func (l *runLog) LastRun(context.Context) (*reconcile.LastRun, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last, nil
}

// TestRunKeepsItsSummary: each run writes its summary once (listed,
// applied, failed, when); a dry run writes nothing; a failing write is the
// log's, never the run's.
func TestRunKeepsItsSummary(t *testing.T) {
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		dry        bool
		failWrite  bool
		wantWrites int
		want       *reconcile.LastRun
	}{
		{name: "run", wantWrites: 1, want: &reconcile.LastRun{At: at, Seen: 2, Applied: 2}},
		{name: "dry run: nothing kept", dry: true},
		{name: "the write fails: the run does not", failWrite: true, wantWrites: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := &api{batches: map[string]jobs.BatchStatus{"batches/a": succeededStatus("batches/a"), "batches/b": succeededStatus("batches/b")}, created: time.Now().Add(-time.Hour)}
			p := pipeline(t, a)
			rl := &runLog{}
			if tc.failWrite {
				rl.err = errors.New("disk full")
			}
			_, err := reconcile.Run(context.Background(), reconcile.Config{Processor: p, Ledger: p.Ledger(), Lister: a, Batches: a,
				Logger: quiet, Runs: rl, DryRun: tc.dry, Clock: func() time.Time { return at }})
			if err != nil {
				t.Fatal(err)
			}
			if rl.writes != tc.wantWrites {
				t.Fatalf("%d writes, want %d", rl.writes, tc.wantWrites)
			}
			got, _ := rl.LastRun(context.Background())
			if tc.want == nil {
				if got != nil {
					t.Fatalf("kept %+v, want nothing", got)
				}
				return
			}
			got.Took = 0
			if *got != *tc.want {
				t.Fatalf("kept %+v, want %+v", *got, *tc.want)
			}
		})
	}
}
