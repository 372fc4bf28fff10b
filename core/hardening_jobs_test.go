package core_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/geminiwebhooks/receiver/core"
)

// Issue 13, finding 6: job ids are checked by kind before they become a
// ledger key or an API path.
func TestValidJobID(t *testing.T) {
	tests := []struct {
		kind, id string
		ok       bool
	}{
		{"batch", "batches/abc-12_Z", true},
		{"batch", "batches/t4?key=x&$fields=name", false},
		{"batch", "x/../batches/t3", false},
		{"batch", "batches/../t3", false},
		{"batch", "batches/", false},
		{"batch", "batches/a/b", false},
		{"batch", "files/abc", false},
		{"video", "files/abc", true},
		{"video", "models/veo-3.0-generate/operations/o1", true},
		{"video", "batches/X", false}, // another kind's name
		{"video", "files/../batches/X", false},
		{"video", "files/a%2e%2e", false},
		{"interaction", "interactions/i-1", true},
		{"interaction", "a//b", false},
		{"interaction", "", false},
	}
	for _, tc := range tests {
		if err := core.ValidJobID(tc.kind, tc.id); (err == nil) != tc.ok {
			t.Errorf("ValidJobID(%q, %q) = %v, want ok %v", tc.kind, tc.id, err, tc.ok)
		}
	}
}

// An event whose job id is malformed touches neither the ledger nor the API.
func TestJobsRefuseMalformedIDs(t *testing.T) {
	tests := []struct{ typ, id string }{
		{core.BatchSucceeded, "batches/t4?key=x&$fields=name"},
		{core.BatchSucceeded, "x/../batches/t3"},
		{core.BatchFailed, "batches/../../etc"},
		{core.VideoGenerated, "batches/t3"},
	}
	for _, tc := range tests {
		t.Run(tc.typ+" "+tc.id, func(t *testing.T) {
			ctx := context.Background()
			r := newRig(t)
			r.batches.st["batches/t3"] = core.BatchStatus{APIState: "JOB_STATE_SUCCEEDED", State: core.JobSucceeded, OutputFile: "files/o"}
			if err := r.jobs.Process(ctx, delivery("m1", tc.typ, tc.id, "files/o")); err != nil {
				t.Fatal(err)
			}
			jobs, _ := r.ledger.ListJobs(ctx, 10)
			if len(jobs) != 0 || r.batches.calls != 0 {
				t.Fatalf("ledger %v, %d API calls; want none", jobs, r.batches.calls)
			}
		})
	}
}

// originFiles is memFiles that reports where the API says each file came from.
type originFiles struct {
	memFiles
	origin map[string]string
	types  map[string]string // content types other than memFiles' application/jsonl
}

func (o *originFiles) Fetch(ctx context.Context, src string) (*core.Download, error) {
	d, err := o.memFiles.Fetch(ctx, src)
	if err == nil {
		d.Origin = o.origin[src]
		if ct, ok := o.types[src]; ok {
			d.ContentType = ct
		}
	}
	return d, err
}

func videoEvent(t *testing.T, id, file string) *core.Event {
	t.Helper()
	ev, err := core.ParseEvent([]byte(`{"type":"video.generated","version":"v1","data":{"file_id":"` + file + `"}}`))
	if err != nil {
		t.Fatal(err)
	}
	ev.Delivery = core.Delivery{ID: id, Scheme: core.SchemeStatic}
	return ev
}

// Issue 13, finding 3: only what the API returns for the job lands.
func TestJobsLandOnlyWhatTheAPIConfirms(t *testing.T) {
	tests := []struct {
		name    string
		api     map[string]core.BatchStatus
		ev      func(t *testing.T) *core.Event
		job     string
		landing core.LandingState
		landed  string // the sink key that must hold the output, "" none
	}{
		{
			name: "batch succeeded, API names no output: the event's gs:// is not fetched",
			api:  map[string]core.BatchStatus{"batches/s": {APIState: "JOB_STATE_SUCCEEDED", State: core.JobSucceeded}},
			ev: func(t *testing.T) *core.Event {
				return delivery("m1", core.BatchSucceeded, "batches/s", "gs://other-bucket/secret.jsonl")
			},
			job: "batches/s", landing: core.LandingSkipped,
		},
		{
			name: "batch succeeded: the API's file, not the event's",
			api:  map[string]core.BatchStatus{"batches/a": {APIState: "JOB_STATE_SUCCEEDED", State: core.JobSucceeded, OutputFile: "files/api-out"}},
			ev: func(t *testing.T) *core.Event {
				return delivery("m1", core.BatchSucceeded, "batches/a", "files/secret")
			},
			job: "batches/a", landing: core.LandingLanded, landed: "batches/a/results.jsonl",
		},
		{
			name: "video naming an uploaded file: not landed",
			ev:   func(t *testing.T) *core.Event { return videoEvent(t, "m1", "files/secret") },
			job:  "files/secret", landing: core.LandingSkipped,
		},
		{
			name: "video naming a generated file that is not a video: not landed",
			ev:   func(t *testing.T) *core.Event { return videoEvent(t, "m1", "files/batch-out") },
			job:  "files/batch-out", landing: core.LandingSkipped,
		},
		{
			name: "video the API says it generated: landed",
			ev:   func(t *testing.T) *core.Event { return videoEvent(t, "m1", "files/vid") },
			job:  "files/vid", landing: core.LandingLanded, landed: "files/vid/video.mp4",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			r := newRig(t)
			for k, v := range tc.api {
				r.batches.st[k] = v
			}
			files := &originFiles{
				memFiles: memFiles{data: map[string]string{
					"gs://other-bucket/secret.jsonl": output, "files/secret": "private", "files/api-out": output, "files/vid": "mp4",
					"files/batch-out": output,
				}},
				origin: map[string]string{"files/secret": "UPLOADED", "files/vid": core.OriginGenerated, "files/batch-out": core.OriginGenerated},
				types:  map[string]string{"files/secret": "video/mp4", "files/vid": "video/mp4"},
			}
			jobs, err := core.NewJobs(core.JobsConfig{Ledger: r.ledger, Batches: r.batches, Fetcher: files, Sink: r.sink, Logger: discard()})
			if err != nil {
				t.Fatal(err)
			}
			if err := jobs.Process(ctx, tc.ev(t)); err != nil {
				t.Fatal(err)
			}
			j, _ := r.ledger.GetJob(ctx, tc.job)
			if j == nil || j.Landing != tc.landing {
				t.Fatalf("job %+v, want landing %s", j, tc.landing)
			}
			for k := range r.sink.objs {
				if tc.landed == "" || (k != tc.landed && !strings.HasSuffix(k, core.ManifestName)) {
					t.Fatalf("landed %s, want only %q", k, tc.landed)
				}
			}
			if tc.landed != "" && r.sink.objs[tc.landed] == nil {
				t.Fatalf("nothing landed at %s", tc.landed)
			}
			if tc.landing == core.LandingSkipped && j.LandingError == "" {
				t.Fatal("skipped without a reason")
			}
		})
	}
}

// Issue 13, finding 4: an event's terminal state is not final until the API
// confirms it, and an event of another kind does not take a job over.
func TestJobsTerminalStatesConfirmedByAPI(t *testing.T) {
	type step struct {
		api      *core.BatchStatus // the API's answer from this step on (nil: unchanged)
		ev       *core.Event
		retry    bool // a RetryLaterError is expected
		state    core.JobState
		landing  core.LandingState
		apiCalls int
	}
	succeeded := &core.BatchStatus{APIState: "JOB_STATE_SUCCEEDED", State: core.JobSucceeded, OutputFile: "files/o"}
	running := &core.BatchStatus{APIState: "JOB_STATE_RUNNING", State: core.JobRunning}
	expired := &core.BatchStatus{APIState: "JOB_STATE_EXPIRED", State: core.JobExpired}
	tests := []struct {
		name  string
		steps []step
	}{
		{"forged batch.failed for a succeeded batch: it lands", []step{
			{api: succeeded, ev: delivery("m1", core.BatchFailed, "batches/x", ""), state: core.JobSucceeded, landing: core.LandingLanded, apiCalls: 1},
			{ev: delivery("m2", core.BatchSucceeded, "batches/x", ""), state: core.JobSucceeded, landing: core.LandingLanded, apiCalls: 1},
		}},
		{"batch.failed for a running batch: not final, a later success lands", []step{
			{api: running, ev: delivery("m1", core.BatchFailed, "batches/x", ""), retry: true, state: core.JobRunning, apiCalls: 1},
			{api: succeeded, ev: delivery("m2", core.BatchSucceeded, "batches/x", ""), state: core.JobSucceeded, landing: core.LandingLanded, apiCalls: 2},
		}},
		{"batch.expired confirmed", []step{
			{api: expired, ev: delivery("m1", core.BatchExpired, "batches/x", ""), state: core.JobExpired, apiCalls: 1},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			r := newRig(t)
			r.files.data["files/o"] = output
			for i, s := range tc.steps {
				if s.api != nil {
					r.batches.st["batches/x"] = *s.api
				}
				err := r.jobs.Process(ctx, s.ev)
				var later *core.RetryLaterError
				if s.retry != errors.As(err, &later) || (!s.retry && err != nil) {
					t.Fatalf("step %d: %v, want retry %v", i+1, err, s.retry)
				}
				j, _ := r.ledger.GetJob(ctx, "batches/x")
				if j.State != s.state || j.Landing != s.landing || r.batches.calls != s.apiCalls {
					t.Fatalf("step %d: state %s landing %q, %d API calls; want %s %q %d", i+1, j.State, j.Landing, r.batches.calls, s.state, s.landing, s.apiCalls)
				}
			}
		})
	}
}

func TestJobsOtherKindDoesNotTakeOver(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	r.files.data["files/v"] = "mp4"
	if err := r.jobs.Process(ctx, videoEvent(t, "m1", "files/v")); err != nil {
		t.Fatal(err)
	}
	before, _ := r.ledger.GetJob(ctx, "files/v")
	for _, typ := range []string{core.InteractionFailed, core.InteractionRequiresAction} {
		if err := r.jobs.Process(ctx, delivery("m2", typ, "files/v", "")); err != nil {
			t.Fatal(err)
		}
	}
	after, _ := r.ledger.GetJob(ctx, "files/v")
	if after.Kind != "video" || len(after.Events) != len(before.Events) || len(after.Deliveries) != 1 || after.State != core.JobSucceeded {
		t.Fatalf("an interaction event changed the video job: %+v", after)
	}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type memInteractions struct {
	st    map[string]core.InteractionStatus
	calls int
}

func (m *memInteractions) GetInteraction(_ context.Context, name string) (core.InteractionStatus, error) {
	m.calls++
	st, ok := m.st[name]
	if !ok {
		return core.InteractionStatus{}, core.ErrNotFound
	}
	st.Name = name
	return st, nil
}

// Issue 13, finding 4: an interaction's end, too, is what the API says.
func TestJobsInteractionEndConfirmedByAPI(t *testing.T) {
	completed := core.InteractionStatus{APIState: "completed", State: core.JobSucceeded}
	running := core.InteractionStatus{APIState: "in_progress", State: core.JobRunning}
	failed := core.InteractionStatus{APIState: "failed", State: core.JobFailed}
	tests := []struct {
		name     string
		api      *core.InteractionStatus // nil: no Interactions client
		typ      string
		retry    bool
		state    core.JobState
		msg      string
		apiCalls int
	}{
		{"forged failure of a completed interaction", &completed, core.InteractionFailed, false, core.JobSucceeded, "", 1},
		{"end reported while the API says running: not final", &running, core.InteractionCancelled, true, core.JobRunning, "", 1},
		{"confirmed failure keeps the event's reason", &failed, core.InteractionFailed, false, core.JobFailed, "boom", 1},
		{"requires_action is not an end: not asked", &completed, core.InteractionRequiresAction, false, core.JobRequiresAction, "", 0},
		{"no API client: the event's word, as before", nil, core.InteractionFailed, false, core.JobFailed, "boom", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			l := core.NewMemoryLedger(0)
			ia := &memInteractions{st: map[string]core.InteractionStatus{}}
			cfg := core.JobsConfig{Ledger: l, Logger: discard()}
			if tc.api != nil {
				ia.st["interactions/i1"] = *tc.api
				cfg.Interactions = ia
			}
			jobs, err := core.NewJobs(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ev := delivery("m1", tc.typ, "interactions/i1", "")
			ev.Data.ErrorMessage = "boom"
			err = jobs.Process(ctx, ev)
			var later *core.RetryLaterError
			if tc.retry != errors.As(err, &later) || (!tc.retry && err != nil) {
				t.Fatalf("Process: %v, want retry %v", err, tc.retry)
			}
			j, _ := l.GetJob(ctx, "interactions/i1")
			if j.State != tc.state || j.ErrorMessage != tc.msg || ia.calls != tc.apiCalls {
				t.Fatalf("state %s message %q, %d API calls; want %s %q %d", j.State, j.ErrorMessage, ia.calls, tc.state, tc.msg, tc.apiCalls)
			}
		})
	}
}

type memStat struct {
	st    map[string]core.FileStatus
	calls int
}

func (m *memStat) StatFile(_ context.Context, name string) (core.FileStatus, error) {
	m.calls++
	st, ok := m.st[name]
	if !ok {
		return core.FileStatus{}, core.ErrNotFound
	}
	st.Name = name
	return st, nil
}

// Issue 13, findings 3 and 4: a video.generated event is final only once the
// API reports its file an active, generated video, and only then lands.
func TestJobsVideoConfirmedByAPI(t *testing.T) {
	video := core.FileStatus{State: "ACTIVE", Origin: core.OriginGenerated, ContentType: "video/mp4"}
	tests := []struct {
		name    string
		st      *core.FileStatus // nil: unknown to the API
		retry   bool
		wantErr error
		state   core.JobState
		landing core.LandingState
		fetches int
	}{
		{"generated video: succeeded and landed", &video, false, nil, core.JobSucceeded, core.LandingLanded, 1},
		{"uploaded file: not confirmed, not landed", &core.FileStatus{State: "ACTIVE", Origin: "UPLOADED", ContentType: "video/mp4"}, false, nil, core.JobPending, core.LandingSkipped, 0},
		{"generated, not a video: not landed", &core.FileStatus{State: "ACTIVE", Origin: core.OriginGenerated, ContentType: "application/jsonl"}, false, nil, core.JobPending, core.LandingSkipped, 0},
		{"still processing: later", &core.FileStatus{State: "PROCESSING", Origin: core.OriginGenerated}, true, nil, core.JobPending, core.LandingNone, 0},
		{"failed", &core.FileStatus{State: "FAILED", ErrorMessage: "safety"}, false, nil, core.JobFailed, core.LandingNone, 0},
		{"unknown file: retried (then a dead letter)", nil, false, core.ErrNotFound, core.JobPending, core.LandingNone, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			r := newRig(t)
			files := &originFiles{memFiles: memFiles{data: map[string]string{"files/v": "mp4"}}, types: map[string]string{"files/v": "video/mp4"}}
			stat := &memStat{st: map[string]core.FileStatus{}}
			if tc.st != nil {
				stat.st["files/v"] = *tc.st
			}
			jobs, err := core.NewJobs(core.JobsConfig{Ledger: r.ledger, Files: stat, Fetcher: files, Sink: r.sink, Logger: discard()})
			if err != nil {
				t.Fatal(err)
			}
			err = jobs.Process(ctx, videoEvent(t, "m1", "files/v"))
			var later *core.RetryLaterError
			switch {
			case tc.retry && !errors.As(err, &later):
				t.Fatalf("Process: %v, want a RetryLaterError", err)
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Fatalf("Process: %v, want %v", err, tc.wantErr)
			case !tc.retry && tc.wantErr == nil && err != nil:
				t.Fatalf("Process: %v", err)
			}
			j, _ := r.ledger.GetJob(ctx, "files/v")
			if j.State != tc.state || j.Landing != tc.landing || files.fetches != tc.fetches || stat.calls != 1 {
				t.Fatalf("state %s landing %q, %d fetches, %d API calls; want %s %q %d 1", j.State, j.Landing, files.fetches, stat.calls, tc.state, tc.landing, tc.fetches)
			}
		})
	}
}
