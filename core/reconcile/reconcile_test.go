package reconcile_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
	"github.com/geminiwebhooks/receiver/core/reconcile"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// api is a fake Gemini API: batches by name, listed in name order.
type api struct {
	mu      sync.Mutex
	batches map[string]jobs.BatchStatus
	created time.Time
	gets    int
	// stopAfter > 0 cancels cancel after that many listed batches.
	stopAfter int
	cancel    context.CancelFunc
}

func (a *api) GetBatch(_ context.Context, name string) (jobs.BatchStatus, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gets++
	st, ok := a.batches[name]
	if !ok {
		return jobs.BatchStatus{}, errors.New("not found")
	}
	return st, nil
}

func (a *api) ListBatches(ctx context.Context, fn func(reconcile.Batch) error) error {
	a.mu.Lock()
	names := make([]string, 0, len(a.batches))
	for n := range a.batches {
		names = append(names, n)
	}
	a.mu.Unlock()
	slices.Sort(names)
	for i, n := range names {
		if a.stopAfter > 0 && i == a.stopAfter {
			a.cancel()
		}
		st, _ := a.GetBatch(ctx, n)
		a.mu.Lock()
		a.gets-- // a listing is not a get
		a.mu.Unlock()
		if err := fn(reconcile.Batch{Name: n, APIState: st.APIState, State: st.State, Created: a.created}); err != nil {
			return err
		}
	}
	return nil
}

// pipeline is the built-in actions over a memory ledger.
func pipeline(t *testing.T, a *api) *jobs.Actions {
	t.Helper()
	p, err := jobs.New(jobs.Config{Ledger: jobs.NewMemoryLedger(0), Batches: a, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRun(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name  string
		api   map[string]jobs.BatchStatus
		known map[string]jobs.JobState // in the ledger before the run, updated an hour ago
		since time.Duration
		fresh bool   // the known jobs were updated a minute ago, not an hour
		want  [5]int // seen, known, running, applied, failed
	}{
		{
			name: "listed and unknown: applied",
			api:  map[string]jobs.BatchStatus{"batches/a": succeededStatus("batches/a"), "batches/b": {Name: "batches/b", APIState: "JOB_STATE_FAILED", State: jobs.JobFailed}},
			want: [5]int{2, 0, 0, 2, 0},
		},
		{
			name:  "known terminal: nothing to do",
			api:   map[string]jobs.BatchStatus{"batches/a": {Name: "batches/a", APIState: "JOB_STATE_CANCELLED", State: jobs.JobCancelled}},
			known: map[string]jobs.JobState{"batches/a": jobs.JobCancelled},
			want:  [5]int{1, 1, 0, 0, 0},
		},
		{
			name:  "known pending, ended: re-read and applied",
			api:   map[string]jobs.BatchStatus{"batches/a": {Name: "batches/a", APIState: "JOB_STATE_EXPIRED", State: jobs.JobExpired}},
			known: map[string]jobs.JobState{"batches/a": jobs.JobPending},
			want:  [5]int{1, 0, 0, 1, 0},
		},
		{
			name:  "known pending, still running: left",
			api:   map[string]jobs.BatchStatus{"batches/a": {Name: "batches/a", APIState: "JOB_STATE_RUNNING", State: jobs.JobRunning}},
			known: map[string]jobs.JobState{"batches/a": jobs.JobPending},
			want:  [5]int{1, 0, 1, 0, 0},
		},
		{
			name:  "known pending, updated a minute ago: a delivery is at it",
			api:   map[string]jobs.BatchStatus{"batches/a": {Name: "batches/a", APIState: "JOB_STATE_EXPIRED", State: jobs.JobExpired}},
			known: map[string]jobs.JobState{"batches/a": jobs.JobPending},
			fresh: true,
			want:  [5]int{1, 0, 1, 0, 0},
		},
		{
			name: "listed before the cut-off: not looked at",
			api:  map[string]jobs.BatchStatus{"batches/a": succeededStatus("batches/a")},
			// the fake lists every batch as created now-1h
			since: 30 * time.Minute,
			want:  [5]int{0, 0, 0, 0, 0},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := &api{batches: tc.api, created: now.Add(-time.Hour)}
			p := pipeline(t, a)
			updated := now.Add(-time.Hour)
			if tc.fresh {
				updated = now.Add(-time.Minute)
			}
			for id, st := range tc.known {
				_, err := p.Ledger().UpdateJob(context.Background(), id, func(*jobs.Job) (*jobs.Job, error) {
					return &jobs.Job{ID: id, Kind: "batch", State: st, FirstSeen: updated, UpdatedAt: updated}, nil
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			s, err := reconcile.Run(context.Background(), reconcile.Config{
				Processor: p, Ledger: p.Ledger(), Lister: a, Batches: a, Since: tc.since, Logger: quiet,
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := [5]int{s.Seen, s.Known, s.Running, s.Applied, s.Failed}; got != tc.want {
				t.Fatalf("seen, known, running, applied, failed = %v, want %v", got, tc.want)
			}
		})
	}
}

func succeededStatus(name string) jobs.BatchStatus {
	return jobs.BatchStatus{Name: name, APIState: "JOB_STATE_SUCCEEDED", State: jobs.JobSucceeded, Inline: []byte(`{"response":{}}` + "\n")}
}

// A run cut off midway stops cleanly; the next one applies the rest and
// nothing twice, and the user's handlers run once per job.
func TestRunResumesAfterCutOff(t *testing.T) {
	a := &api{batches: map[string]jobs.BatchStatus{}, created: time.Now()}
	for i := range 20 {
		n := fmt.Sprintf("batches/b%02d", i)
		a.batches[n] = jobs.BatchStatus{Name: n, APIState: "JOB_STATE_CANCELLED", State: jobs.JobCancelled}
	}
	p := pipeline(t, a)
	var mu sync.Mutex
	runs := map[string]int{}
	proc := core.NewMux().On(core.BatchCancelled, func(_ context.Context, ev *core.Event) error {
		mu.Lock()
		runs[ev.JobID()]++
		mu.Unlock()
		return nil
	}).With(p.Middleware)
	store := core.NewMemoryStore(0)
	cfg := reconcile.Config{Processor: proc, Ledger: p.Ledger(), Store: store, Lister: a, Batches: a, Logger: quiet, Concurrency: 1}

	ctx, cancel := context.WithCancel(context.Background())
	a.stopAfter, a.cancel = 8, cancel
	first, err := reconcile.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !first.CutOff || first.Applied >= 20 {
		t.Fatalf("first run %+v: want cut off before the end", first)
	}
	a.stopAfter = 0
	second, err := reconcile.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if second.CutOff || first.Applied+second.Applied != 20 || second.Known != first.Applied {
		t.Fatalf("runs %+v then %+v: want 20 applied in all, each once", first, second)
	}
	for n := range a.batches {
		if runs[n] != 1 {
			t.Fatalf("%s: handlers ran %d times, want 1", n, runs[n])
		}
	}
}

// A failed handler on a reconciled job is run again by the next run, and
// only until it succeeds.
func TestRunRetriesFailedHandlers(t *testing.T) {
	a := &api{batches: map[string]jobs.BatchStatus{"batches/x": {Name: "batches/x", APIState: "JOB_STATE_EXPIRED", State: jobs.JobExpired}}, created: time.Now()}
	p := pipeline(t, a)
	calls := 0
	proc := core.NewMux().On(core.BatchExpired, func(context.Context, *core.Event) error {
		calls++
		if calls == 1 {
			return errors.New("user code failed")
		}
		return nil
	}).With(p.Middleware)
	cfg := reconcile.Config{Processor: proc, Ledger: p.Ledger(), Store: core.NewMemoryStore(0), Lister: a, Batches: a, Logger: quiet, MinAge: time.Nanosecond}
	var got [][2]int
	for range 3 {
		s, err := reconcile.Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, [2]int{s.Applied, s.Failed})
	}
	if want := [][2]int{{0, 1}, {1, 0}, {0, 0}}; !slices.Equal(got, want) || calls != 2 {
		t.Fatalf("applied, failed per run %v (handler calls %d), want %v and 2 calls", got, calls, want)
	}
}

func TestProblems(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	self := []string{"https://r.example/hook"}
	tests := []struct {
		name string
		hook reconcile.Webhook
		urls []string
		want []string
	}{
		{"healthy", reconcile.Webhook{URI: "https://r.example/hook", State: "enabled", Secrets: []reconcile.Secret{{}}}, self, nil},
		{"disabled by hand", reconcile.Webhook{URI: "https://r.example/hook", State: "disabled"}, self, []string{reconcile.ProblemDisabled}},
		{"disabled after failures", reconcile.Webhook{URI: "https://r.example/hook", State: "disabled_due_to_failed_deliveries"}, self, []string{reconcile.ProblemDisabled}},
		{"secret expires in 1 h", reconcile.Webhook{URI: "https://r.example/hook", State: "enabled", Secrets: []reconcile.Secret{{Expire: now.Add(time.Hour)}}}, self, []string{reconcile.ProblemSecretExpires}},
		{"secret expired", reconcile.Webhook{URI: "https://r.example/hook", State: "enabled", Secrets: []reconcile.Secret{{Expire: now.Add(-time.Hour)}}}, self, []string{reconcile.ProblemSecretExpires}},
		{"rotation under way", reconcile.Webhook{URI: "https://r.example/hook", State: "enabled", Secrets: []reconcile.Secret{{Expire: now.Add(time.Hour)}, {}}}, self, nil},
		{"secret expires in 2 days", reconcile.Webhook{URI: "https://r.example/hook", State: "enabled", Secrets: []reconcile.Secret{{Expire: now.Add(48 * time.Hour)}}}, self, nil},
		{"other URI", reconcile.Webhook{URI: "https://other.example/hook", State: "enabled"}, self, []string{reconcile.ProblemOtherURI}},
		{"trailing slash is the same URI", reconcile.Webhook{URI: "https://r.example/hook/", State: "enabled"}, self, nil},
		{"no RECEIVER_URL: URI not checked", reconcile.Webhook{URI: "https://other.example/hook", State: "enabled"}, nil, nil},
		{"all at once", reconcile.Webhook{URI: "https://other.example/", State: "disabled", Secrets: []reconcile.Secret{{Expire: now}}}, self, []string{reconcile.ProblemDisabled, reconcile.ProblemSecretExpires, reconcile.ProblemOtherURI}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, p := range reconcile.Problems(tc.hook, tc.urls, now) {
				if p.Action == "" || p.Detail == "" {
					t.Errorf("%s: no detail or action: %+v", p.Kind, p)
				}
				got = append(got, p.Kind)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("problems %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNewEvent(t *testing.T) {
	tests := []struct {
		kind  string
		state jobs.JobState
		want  string
	}{
		{"batch", jobs.JobSucceeded, core.BatchSucceeded},
		{"batch", jobs.JobFailed, core.BatchFailed},
		{"batch", jobs.JobCancelled, core.BatchCancelled},
		{"batch", jobs.JobExpired, core.BatchExpired},
		{"interaction", jobs.JobSucceeded, core.InteractionCompleted},
		{"interaction", jobs.JobFailed, core.InteractionFailed},
		{"video", jobs.JobSucceeded, core.VideoGenerated},
		{"batch", jobs.JobRunning, ""},
	}
	for _, tc := range tests {
		ev, err := reconcile.NewEvent(tc.kind, "batches/x", tc.state, "files/v", time.Now())
		if tc.want == "" {
			if err == nil {
				t.Errorf("%s %s: got %s, want an error", tc.kind, tc.state, ev.Type)
			}
			continue
		}
		if err != nil || ev.Type != tc.want || ev.Delivery.Scheme != core.SchemeReconcile || ev.Delivery.ID != "reconcile:batches/x:"+string(tc.state) {
			t.Errorf("%s %s: %+v, %v; want %s", tc.kind, tc.state, ev, err, tc.want)
			continue
		}
		again, _ := reconcile.NewEvent(tc.kind, "batches/x", tc.state, "files/v", time.Now().Add(time.Hour))
		if string(again.Raw) != string(ev.Raw) {
			t.Errorf("%s %s: the body changes between runs: %s vs %s", tc.kind, tc.state, ev.Raw, again.Raw)
		}
	}
}
