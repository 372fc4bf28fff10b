package jobs_test

import (
	"errors"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

func ev(typ, id string, at time.Time) *core.Event {
	e := &core.Event{Type: typ, Version: "v1", Timestamp: at.UTC().Format(time.RFC3339Nano), Delivery: core.Delivery{ID: "msg_" + typ}}
	e.Data.ID = id
	return e
}

// Every catalogue event applied to every starting state: the state only
// moves forward and terminal states never change.
func TestApplyEventForwardOnly(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0).UTC()
	states := []jobs.JobState{"", jobs.JobPending, jobs.JobRunning, jobs.JobRequiresAction, jobs.JobSucceeded, jobs.JobFailed, jobs.JobCancelled, jobs.JobExpired}
	reports := map[string]jobs.JobState{
		core.BatchSucceeded: "", core.BatchCancelled: jobs.JobCancelled, core.BatchExpired: jobs.JobExpired, core.BatchFailed: jobs.JobFailed,
		core.InteractionRequiresAction: jobs.JobRequiresAction, core.InteractionCompleted: jobs.JobSucceeded,
		core.InteractionFailed: jobs.JobFailed, core.InteractionCancelled: jobs.JobCancelled, core.VideoGenerated: jobs.JobSucceeded,
	}
	rank := map[jobs.JobState]int{"": 0, jobs.JobPending: 0, jobs.JobRunning: 1, jobs.JobRequiresAction: 1}
	for _, from := range states {
		for typ, reported := range reports {
			var existing *jobs.Job
			if from != "" {
				existing = &jobs.Job{ID: "x/1", State: from, StateAt: t0}
			}
			got := jobs.ApplyEvent(existing, ev(typ, "x/1", t0.Add(time.Second)), t0.Add(time.Second))
			want := from
			if want == "" {
				want = jobs.JobPending
			}
			fromRank, ok := rank[from]
			if !ok {
				fromRank = 2
			}
			toRank, ok := rank[reported]
			if !ok {
				toRank = 2
			}
			if reported != "" && fromRank < 2 && toRank >= fromRank {
				want = reported
			}
			if got.State != want {
				t.Errorf("%s on %q: state %s, want %s", typ, from, got.State, want)
			}
			if existing != nil && existing.State != from {
				t.Fatalf("ApplyEvent changed its input")
			}
		}
	}
}

// Between the two running states the event time decides: an older event
// does not undo a newer one.
func TestApplyEventRunningStatesByTime(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0).UTC()
	j := &jobs.Job{ID: "interactions/a", State: jobs.JobRunning, StateAt: t0}
	if got := jobs.ApplyEvent(j, ev(core.InteractionRequiresAction, "interactions/a", t0.Add(-time.Second)), t0); got.State != jobs.JobRunning {
		t.Fatalf("older requires_action moved running to %s", got.State)
	}
	if got := jobs.ApplyEvent(j, ev(core.InteractionRequiresAction, "interactions/a", t0.Add(time.Second)), t0); got.State != jobs.JobRequiresAction {
		t.Fatalf("newer requires_action left %s", got.State)
	}
}

func TestApplyEventRecords(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0).UTC()
	e := ev(core.BatchFailed, "batches/f", t0)
	e.Data.ErrorCode, e.Data.ErrorMessage = "3", "line 17 is not JSON"
	e.UserMetadata = map[string]any{"job_group": "nightly"}
	j := jobs.ApplyEvent(nil, e, t0)
	if j.ID != "batches/f" || j.Kind != "batch" || j.State != jobs.JobFailed || j.ErrorCode != "3" || j.ErrorMessage != "line 17 is not JSON" ||
		j.UserMetadata["job_group"] != "nightly" || len(j.Deliveries) != 1 || !j.FinishedAt.Equal(t0) {
		t.Fatalf("failed batch recorded as %+v", j)
	}
	// A late success neither revives it nor changes why it failed; the
	// delivery is still recorded, once.
	late := ev(core.BatchSucceeded, "batches/f", t0.Add(time.Minute))
	late.Data.OutputFileURI = "files/out"
	j2 := jobs.ApplyEvent(jobs.ApplyEvent(j, late, t0.Add(time.Minute)), late, t0.Add(time.Minute))
	if j2.State != jobs.JobFailed || j2.ErrorMessage != "line 17 is not JSON" || len(j2.Deliveries) != 2 || len(j2.Events) != 2 {
		t.Fatalf("after a late success: %+v", j2)
	}
	// Deliveries are bounded.
	for i := range jobs.MaxJobDeliveries + 5 {
		e := ev(core.BatchExpired, "batches/f", t0)
		e.Delivery.ID = "msg_" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		j2 = jobs.ApplyEvent(j2, e, t0)
	}
	if len(j2.Deliveries) != jobs.MaxJobDeliveries {
		t.Fatalf("%d deliveries kept, want %d", len(j2.Deliveries), jobs.MaxJobDeliveries)
	}
}

func TestVideoGeneratedIsDueForLanding(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0).UTC()
	for _, tc := range []struct{ fileID, uri, want string }{
		{"files/abc123", "", "files/abc123"},
		{"", "https://generativelanguage.googleapis.com/v1beta/files/vid-9:download?alt=media", "files/vid-9"},
		{"abc", "", "files/abc"},
	} {
		e := &core.Event{Type: core.VideoGenerated, Timestamp: t0.Format(time.RFC3339)}
		e.Data.FileID, e.Data.VideoURI = tc.fileID, tc.uri
		j := jobs.ApplyEvent(nil, e, t0)
		if j.State != jobs.JobSucceeded || j.Landing != jobs.LandingPending || j.Source != tc.want || j.Kind != "video" {
			t.Errorf("video %q %q: %+v, want source %s pending", tc.fileID, tc.uri, j, tc.want)
		}
	}
}

func TestApplyBatchStatus(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0).UTC()
	hinted := &jobs.Job{ID: "batches/b", Kind: "batch", State: jobs.JobPending, Source: "files/from-event"}
	for _, tc := range []struct {
		name        string
		st          jobs.BatchStatus
		state       jobs.JobState
		landing     jobs.LandingState
		source, msg string
	}{
		{"succeeded: the API's file wins", jobs.BatchStatus{APIState: "JOB_STATE_SUCCEEDED", State: jobs.JobSucceeded, OutputFile: "files/from-api"}, jobs.JobSucceeded, jobs.LandingPending, "files/from-api", ""},
		// Issue 13, finding 3: never the event's (nor an older record's) output.
		{"succeeded, no file in the API: none", jobs.BatchStatus{APIState: "JOB_STATE_SUCCEEDED", State: jobs.JobSucceeded}, jobs.JobSucceeded, jobs.LandingPending, "", ""},
		{"inline", jobs.BatchStatus{APIState: "JOB_STATE_SUCCEEDED", State: jobs.JobSucceeded, Inline: []byte("{}\n")}, jobs.JobSucceeded, jobs.LandingPending, jobs.SourceInline, ""},
		{"failed: the API says why", jobs.BatchStatus{APIState: "JOB_STATE_FAILED", State: jobs.JobFailed, ErrorMessage: "quota"}, jobs.JobFailed, jobs.LandingNone, "files/from-event", "quota"},
		{"failed without a reason", jobs.BatchStatus{APIState: "JOB_STATE_FAILED", State: jobs.JobFailed}, jobs.JobFailed, jobs.LandingNone, "files/from-event", "the Gemini API reports JOB_STATE_FAILED"},
		{"still running", jobs.BatchStatus{APIState: "JOB_STATE_RUNNING", State: jobs.JobRunning}, jobs.JobRunning, jobs.LandingNone, "files/from-event", ""},
	} {
		j := jobs.ApplyBatchStatus(hinted, tc.st, t0)
		if j.State != tc.state || j.Landing != tc.landing || j.Source != tc.source || j.ErrorMessage != tc.msg || j.APIState != tc.st.APIState {
			t.Errorf("%s: %+v", tc.name, j)
		}
	}
	done := &jobs.Job{ID: "batches/b", State: jobs.JobCancelled}
	if j := jobs.ApplyBatchStatus(done, jobs.BatchStatus{State: jobs.JobSucceeded, OutputFile: "files/x"}, t0); j.State != jobs.JobCancelled || j.Landing != jobs.LandingNone {
		t.Fatalf("a cancelled job took the API's success: %+v", j)
	}
}

func TestClaimLanding(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0).UTC()
	lease := t0.Add(time.Minute)
	for _, tc := range []struct {
		name string
		job  *jobs.Job
		want jobs.LandingVerdict
	}{
		{"absent", nil, jobs.LandingNotNeeded},
		{"nothing to land", &jobs.Job{Landing: jobs.LandingNone}, jobs.LandingNotNeeded},
		{"skipped", &jobs.Job{Landing: jobs.LandingSkipped}, jobs.LandingNotNeeded},
		{"pending", &jobs.Job{Landing: jobs.LandingPending}, jobs.LandingClaimed},
		{"landed", &jobs.Job{Landing: jobs.LandingLanded}, jobs.LandingDone},
		{"another owner's live lease", &jobs.Job{Landing: jobs.LandingActive, LandingOwner: "b", LandingLease: t0.Add(time.Second)}, jobs.LandingBusy},
		{"another owner's lease ran out", &jobs.Job{Landing: jobs.LandingActive, LandingOwner: "b", LandingLease: t0}, jobs.LandingClaimed},
		{"our own lease", &jobs.Job{Landing: jobs.LandingActive, LandingOwner: "a", LandingLease: t0.Add(time.Second)}, jobs.LandingClaimed},
	} {
		v, next := jobs.ClaimLanding(tc.job, "a", t0, lease)
		if v != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, v, tc.want)
		}
		if (next != nil) != (v == jobs.LandingClaimed) {
			t.Errorf("%s: a record to write only when claimed", tc.name)
		}
		if next != nil && (next.LandingOwner != "a" || !next.LandingLease.Equal(lease) || next.Landing != jobs.LandingActive || next.LandingAttempts != tc.job.LandingAttempts+1) {
			t.Errorf("%s: claimed record %+v", tc.name, next)
		}
	}
	held := &jobs.Job{Landing: jobs.LandingActive, LandingOwner: "a", LandingLease: lease}
	for name, fn := range map[string]func(string) (*jobs.Job, error){
		"renew":   func(o string) (*jobs.Job, error) { return jobs.RenewLanding(held, o, t0, lease) },
		"finish":  func(o string) (*jobs.Job, error) { return jobs.FinishLanding(held, o, jobs.Manifest{}, "", t0) },
		"release": func(o string) (*jobs.Job, error) { return jobs.ReleaseLanding(held, o, "boom", t0) },
	} {
		if _, err := fn("b"); !errors.Is(err, core.ErrNotOwner) {
			t.Errorf("%s by another owner: %v, want ErrNotOwner", name, err)
		}
		if j, err := fn("a"); err != nil || j == nil {
			t.Errorf("%s by the owner: %v", name, err)
		}
	}
	if j, _ := jobs.ReleaseLanding(held, "a", "boom", t0); j.Landing != jobs.LandingPending || j.LandingError != "boom" || j.LandingOwner != "" {
		t.Errorf("released: %+v", j)
	}
}

func TestNoticesOnce(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0).UTC()
	j := jobs.StartNotice(&jobs.Job{ID: "x"}, "forward:batch.succeeded", "msg_1", t0)
	if jobs.StartNotice(j, "forward:batch.succeeded", "msg_2", t0) != nil {
		t.Fatal("a second start replaced the notice's delivery id")
	}
	j = jobs.SentNotice(j, "forward:batch.succeeded", t0)
	if n := j.Notices["forward:batch.succeeded"]; n.DeliveryID != "msg_1" || !n.SentAt.Equal(t0) {
		t.Fatalf("notice %+v", n)
	}
	if jobs.SentNotice(j, "forward:batch.succeeded", t0.Add(time.Hour)) != nil {
		t.Fatal("sent twice")
	}
}

func TestFileNameAndJobPath(t *testing.T) {
	for in, want := range map[string]string{
		"files/abc-123":       "files/abc-123",
		"abc":                 "files/abc",
		"gs://bucket/files/x": "",
		"https://x/v1beta/files/q9:download?alt=media": "files/q9",
		"batches/abc": "",
		"":            "",
	} {
		if got := jobs.FileName(in); got != want {
			t.Errorf("FileName(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"batches/abc_1-2": "batches/abc_1-2",
		"batches/../etc":  "batches/~2E~2E/etc",
		"files/a.b":       "files/a~2Eb",
		"/x":              "~/x",
	} {
		if got := jobs.JobPath(in); got != want {
			t.Errorf("JobPath(%q) = %q, want %q", in, got, want)
		}
	}
}
