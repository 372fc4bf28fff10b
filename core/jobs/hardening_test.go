package jobs_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
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
			r.batches.st["batches/t3"] = jobs.BatchStatus{APIState: "JOB_STATE_SUCCEEDED", State: jobs.JobSucceeded, OutputFile: "files/o"}
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

func (o *originFiles) Fetch(ctx context.Context, src string) (*jobs.Download, error) {
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
		api     map[string]jobs.BatchStatus
		ev      func(t *testing.T) *core.Event
		job     string
		landing jobs.LandingState
		landed  string // the sink key that must hold the output, "" none
	}{
		{
			name: "batch succeeded, API names no output: the event's gs:// is not fetched",
			api:  map[string]jobs.BatchStatus{"batches/s": {APIState: "JOB_STATE_SUCCEEDED", State: jobs.JobSucceeded}},
			ev: func(t *testing.T) *core.Event {
				return delivery("m1", core.BatchSucceeded, "batches/s", "gs://other-bucket/secret.jsonl")
			},
			job: "batches/s", landing: jobs.LandingSkipped,
		},
		{
			name: "batch succeeded: the API's file, not the event's",
			api:  map[string]jobs.BatchStatus{"batches/a": {APIState: "JOB_STATE_SUCCEEDED", State: jobs.JobSucceeded, OutputFile: "files/api-out"}},
			ev: func(t *testing.T) *core.Event {
				return delivery("m1", core.BatchSucceeded, "batches/a", "files/secret")
			},
			job: "batches/a", landing: jobs.LandingLanded, landed: "batches/a/results.jsonl",
		},
		{
			name: "video naming an uploaded file: not landed",
			ev:   func(t *testing.T) *core.Event { return videoEvent(t, "m1", "files/secret") },
			job:  "files/secret", landing: jobs.LandingSkipped,
		},
		{
			name: "video naming a generated file that is not a video: not landed",
			ev:   func(t *testing.T) *core.Event { return videoEvent(t, "m1", "files/batch-out") },
			job:  "files/batch-out", landing: jobs.LandingSkipped,
		},
		{
			name: "video the API says it generated: landed",
			ev:   func(t *testing.T) *core.Event { return videoEvent(t, "m1", "files/vid") },
			job:  "files/vid", landing: jobs.LandingLanded, landed: "files/vid/video.mp4",
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
				origin: map[string]string{"files/secret": "UPLOADED", "files/vid": jobs.OriginGenerated, "files/batch-out": jobs.OriginGenerated},
				types:  map[string]string{"files/secret": "video/mp4", "files/vid": "video/mp4"},
			}
			p, err := jobs.New(jobs.Config{Ledger: r.ledger, Batches: r.batches, Fetcher: files, Sink: r.sink, Logger: discard()})
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Process(ctx, tc.ev(t)); err != nil {
				t.Fatal(err)
			}
			j, _ := r.ledger.GetJob(ctx, tc.job)
			if j == nil || j.Landing != tc.landing {
				t.Fatalf("job %+v, want landing %s", j, tc.landing)
			}
			for k := range r.sink.objs {
				if tc.landed == "" || (k != tc.landed && !strings.HasSuffix(k, jobs.ManifestName)) {
					t.Fatalf("landed %s, want only %q", k, tc.landed)
				}
			}
			if tc.landed != "" && r.sink.objs[tc.landed] == nil {
				t.Fatalf("nothing landed at %s", tc.landed)
			}
			if tc.landing == jobs.LandingSkipped && j.LandingError == "" {
				t.Fatal("skipped without a reason")
			}
		})
	}
}

// Issue 13, finding 4: an event's terminal state is not final until the API
// confirms it, and an event of another kind does not take a job over.
func TestJobsTerminalStatesConfirmedByAPI(t *testing.T) {
	type step struct {
		api      *jobs.BatchStatus // the API's answer from this step on (nil: unchanged)
		ev       *core.Event
		retry    bool // a RetryLaterError is expected
		state    jobs.JobState
		landing  jobs.LandingState
		apiCalls int
	}
	succeeded := &jobs.BatchStatus{APIState: "JOB_STATE_SUCCEEDED", State: jobs.JobSucceeded, OutputFile: "files/o"}
	running := &jobs.BatchStatus{APIState: "JOB_STATE_RUNNING", State: jobs.JobRunning}
	expired := &jobs.BatchStatus{APIState: "JOB_STATE_EXPIRED", State: jobs.JobExpired}
	tests := []struct {
		name  string
		steps []step
	}{
		{"forged batch.failed for a succeeded batch: it lands", []step{
			{api: succeeded, ev: delivery("m1", core.BatchFailed, "batches/x", ""), state: jobs.JobSucceeded, landing: jobs.LandingLanded, apiCalls: 1},
			{ev: delivery("m2", core.BatchSucceeded, "batches/x", ""), state: jobs.JobSucceeded, landing: jobs.LandingLanded, apiCalls: 1},
		}},
		{"batch.failed for a running batch: not final, a later success lands", []step{
			{api: running, ev: delivery("m1", core.BatchFailed, "batches/x", ""), retry: true, state: jobs.JobRunning, apiCalls: 1},
			{api: succeeded, ev: delivery("m2", core.BatchSucceeded, "batches/x", ""), state: jobs.JobSucceeded, landing: jobs.LandingLanded, apiCalls: 2},
		}},
		{"batch.expired confirmed", []step{
			{api: expired, ev: delivery("m1", core.BatchExpired, "batches/x", ""), state: jobs.JobExpired, apiCalls: 1},
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
	if after.Kind != "video" || len(after.Events) != len(before.Events) || len(after.Deliveries) != 1 || after.State != jobs.JobSucceeded {
		t.Fatalf("an interaction event changed the video job: %+v", after)
	}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type memInteractions struct {
	st    map[string]jobs.InteractionStatus
	calls int
}

func (m *memInteractions) GetInteraction(_ context.Context, name string) (jobs.InteractionStatus, error) {
	m.calls++
	st, ok := m.st[name]
	if !ok {
		return jobs.InteractionStatus{}, core.ErrNotFound
	}
	st.Name = name
	return st, nil
}

// Issue 13, finding 4: an interaction's end, too, is what the API says.
func TestJobsInteractionEndConfirmedByAPI(t *testing.T) {
	completed := jobs.InteractionStatus{APIState: "completed", State: jobs.JobSucceeded}
	running := jobs.InteractionStatus{APIState: "in_progress", State: jobs.JobRunning}
	failed := jobs.InteractionStatus{APIState: "failed", State: jobs.JobFailed}
	tests := []struct {
		name     string
		api      *jobs.InteractionStatus // nil: no Interactions client
		typ      string
		retry    bool
		state    jobs.JobState
		msg      string
		apiCalls int
	}{
		{"forged failure of a completed interaction", &completed, core.InteractionFailed, false, jobs.JobSucceeded, "", 1},
		{"end reported while the API says running: not final", &running, core.InteractionCancelled, true, jobs.JobRunning, "", 1},
		{"confirmed failure keeps the event's reason", &failed, core.InteractionFailed, false, jobs.JobFailed, "boom", 1},
		{"requires_action is not an end: not asked", &completed, core.InteractionRequiresAction, false, jobs.JobRequiresAction, "", 0},
		{"no API client: the event's word, as before", nil, core.InteractionFailed, false, jobs.JobFailed, "boom", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			l := jobs.NewMemoryLedger(0)
			ia := &memInteractions{st: map[string]jobs.InteractionStatus{}}
			cfg := jobs.Config{Ledger: l, Logger: discard()}
			if tc.api != nil {
				ia.st["interactions/i1"] = *tc.api
				cfg.Interactions = ia
			}
			jobs, err := jobs.New(cfg)
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
	st    map[string]jobs.FileStatus
	calls int
}

func (m *memStat) StatFile(_ context.Context, name string) (jobs.FileStatus, error) {
	m.calls++
	st, ok := m.st[name]
	if !ok {
		return jobs.FileStatus{}, core.ErrNotFound
	}
	st.Name = name
	return st, nil
}

// Issue 13, findings 3 and 4: a video.generated event is final only once the
// API reports its file an active, generated video, and only then lands.
func TestJobsVideoConfirmedByAPI(t *testing.T) {
	video := jobs.FileStatus{State: "ACTIVE", Origin: jobs.OriginGenerated, ContentType: "video/mp4"}
	tests := []struct {
		name    string
		st      *jobs.FileStatus // nil: unknown to the API
		retry   bool
		wantErr error
		state   jobs.JobState
		landing jobs.LandingState
		fetches int
	}{
		{"generated video: succeeded and landed", &video, false, nil, jobs.JobSucceeded, jobs.LandingLanded, 1},
		{"uploaded file: not confirmed, not landed", &jobs.FileStatus{State: "ACTIVE", Origin: "UPLOADED", ContentType: "video/mp4"}, false, nil, jobs.JobPending, jobs.LandingSkipped, 0},
		{"generated, not a video: not landed", &jobs.FileStatus{State: "ACTIVE", Origin: jobs.OriginGenerated, ContentType: "application/jsonl"}, false, nil, jobs.JobPending, jobs.LandingSkipped, 0},
		{"still processing: later", &jobs.FileStatus{State: "PROCESSING", Origin: jobs.OriginGenerated}, true, nil, jobs.JobPending, jobs.LandingNone, 0},
		{"failed", &jobs.FileStatus{State: "FAILED", ErrorMessage: "safety"}, false, nil, jobs.JobFailed, jobs.LandingNone, 0},
		{"unknown file: retried (then a dead letter)", nil, false, core.ErrNotFound, jobs.JobPending, jobs.LandingNone, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			r := newRig(t)
			files := &originFiles{memFiles: memFiles{data: map[string]string{"files/v": "mp4"}}, types: map[string]string{"files/v": "video/mp4"}}
			stat := &memStat{st: map[string]jobs.FileStatus{}}
			if tc.st != nil {
				stat.st["files/v"] = *tc.st
			}
			jobs, err := jobs.New(jobs.Config{Ledger: r.ledger, Files: stat, Fetcher: files, Sink: r.sink, Logger: discard()})
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
