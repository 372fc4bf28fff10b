package core_test

import (
	"errors"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/core"
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
	states := []core.JobState{"", core.JobPending, core.JobRunning, core.JobRequiresAction, core.JobSucceeded, core.JobFailed, core.JobCancelled, core.JobExpired}
	reports := map[string]core.JobState{
		core.BatchSucceeded: "", core.BatchCancelled: core.JobCancelled, core.BatchExpired: core.JobExpired, core.BatchFailed: core.JobFailed,
		core.InteractionRequiresAction: core.JobRequiresAction, core.InteractionCompleted: core.JobSucceeded,
		core.InteractionFailed: core.JobFailed, core.InteractionCancelled: core.JobCancelled, core.VideoGenerated: core.JobSucceeded,
	}
	rank := map[core.JobState]int{"": 0, core.JobPending: 0, core.JobRunning: 1, core.JobRequiresAction: 1}
	for _, from := range states {
		for typ, reported := range reports {
			var existing *core.Job
			if from != "" {
				existing = &core.Job{ID: "x/1", State: from, StateAt: t0}
			}
			got := core.ApplyEvent(existing, ev(typ, "x/1", t0.Add(time.Second)), t0.Add(time.Second))
			want := from
			if want == "" {
				want = core.JobPending
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
	j := &core.Job{ID: "interactions/a", State: core.JobRunning, StateAt: t0}
	if got := core.ApplyEvent(j, ev(core.InteractionRequiresAction, "interactions/a", t0.Add(-time.Second)), t0); got.State != core.JobRunning {
		t.Fatalf("older requires_action moved running to %s", got.State)
	}
	if got := core.ApplyEvent(j, ev(core.InteractionRequiresAction, "interactions/a", t0.Add(time.Second)), t0); got.State != core.JobRequiresAction {
		t.Fatalf("newer requires_action left %s", got.State)
	}
}

func TestApplyEventRecords(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0).UTC()
	e := ev(core.BatchFailed, "batches/f", t0)
	e.Data.ErrorCode, e.Data.ErrorMessage = "3", "line 17 is not JSON"
	e.UserMetadata = map[string]any{"job_group": "nightly"}
	j := core.ApplyEvent(nil, e, t0)
	if j.ID != "batches/f" || j.Kind != "batch" || j.State != core.JobFailed || j.ErrorCode != "3" || j.ErrorMessage != "line 17 is not JSON" ||
		j.UserMetadata["job_group"] != "nightly" || len(j.Deliveries) != 1 || !j.FinishedAt.Equal(t0) {
		t.Fatalf("failed batch recorded as %+v", j)
	}
	// A late success neither revives it nor changes why it failed; the
	// delivery is still recorded, once.
	late := ev(core.BatchSucceeded, "batches/f", t0.Add(time.Minute))
	late.Data.OutputFileURI = "files/out"
	j2 := core.ApplyEvent(core.ApplyEvent(j, late, t0.Add(time.Minute)), late, t0.Add(time.Minute))
	if j2.State != core.JobFailed || j2.ErrorMessage != "line 17 is not JSON" || len(j2.Deliveries) != 2 || len(j2.Events) != 2 {
		t.Fatalf("after a late success: %+v", j2)
	}
	// Deliveries are bounded.
	for i := range core.MaxJobDeliveries + 5 {
		e := ev(core.BatchExpired, "batches/f", t0)
		e.Delivery.ID = "msg_" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		j2 = core.ApplyEvent(j2, e, t0)
	}
	if len(j2.Deliveries) != core.MaxJobDeliveries {
		t.Fatalf("%d deliveries kept, want %d", len(j2.Deliveries), core.MaxJobDeliveries)
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
		j := core.ApplyEvent(nil, e, t0)
		if j.State != core.JobSucceeded || j.Landing != core.LandingPending || j.Source != tc.want || j.Kind != "video" {
			t.Errorf("video %q %q: %+v, want source %s pending", tc.fileID, tc.uri, j, tc.want)
		}
	}
}

func TestApplyBatchStatus(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0).UTC()
	hinted := &core.Job{ID: "batches/b", Kind: "batch", State: core.JobPending, Source: "files/from-event"}
	for _, tc := range []struct {
		name        string
		st          core.BatchStatus
		state       core.JobState
		landing     core.LandingState
		source, msg string
	}{
		{"succeeded: the API's file wins", core.BatchStatus{APIState: "JOB_STATE_SUCCEEDED", State: core.JobSucceeded, OutputFile: "files/from-api"}, core.JobSucceeded, core.LandingPending, "files/from-api", ""},
		// Issue 13, finding 3: never the event's (nor an older record's) output.
		{"succeeded, no file in the API: none", core.BatchStatus{APIState: "JOB_STATE_SUCCEEDED", State: core.JobSucceeded}, core.JobSucceeded, core.LandingPending, "", ""},
		{"inline", core.BatchStatus{APIState: "JOB_STATE_SUCCEEDED", State: core.JobSucceeded, Inline: []byte("{}\n")}, core.JobSucceeded, core.LandingPending, core.SourceInline, ""},
		{"failed: the API says why", core.BatchStatus{APIState: "JOB_STATE_FAILED", State: core.JobFailed, ErrorMessage: "quota"}, core.JobFailed, core.LandingNone, "files/from-event", "quota"},
		{"failed without a reason", core.BatchStatus{APIState: "JOB_STATE_FAILED", State: core.JobFailed}, core.JobFailed, core.LandingNone, "files/from-event", "the Gemini API reports JOB_STATE_FAILED"},
		{"still running", core.BatchStatus{APIState: "JOB_STATE_RUNNING", State: core.JobRunning}, core.JobRunning, core.LandingNone, "files/from-event", ""},
	} {
		j := core.ApplyBatchStatus(hinted, tc.st, t0)
		if j.State != tc.state || j.Landing != tc.landing || j.Source != tc.source || j.ErrorMessage != tc.msg || j.APIState != tc.st.APIState {
			t.Errorf("%s: %+v", tc.name, j)
		}
	}
	done := &core.Job{ID: "batches/b", State: core.JobCancelled}
	if j := core.ApplyBatchStatus(done, core.BatchStatus{State: core.JobSucceeded, OutputFile: "files/x"}, t0); j.State != core.JobCancelled || j.Landing != core.LandingNone {
		t.Fatalf("a cancelled job took the API's success: %+v", j)
	}
}

func TestClaimLanding(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0).UTC()
	lease := t0.Add(time.Minute)
	for _, tc := range []struct {
		name string
		job  *core.Job
		want core.LandingVerdict
	}{
		{"absent", nil, core.LandingNotNeeded},
		{"nothing to land", &core.Job{Landing: core.LandingNone}, core.LandingNotNeeded},
		{"skipped", &core.Job{Landing: core.LandingSkipped}, core.LandingNotNeeded},
		{"pending", &core.Job{Landing: core.LandingPending}, core.LandingClaimed},
		{"landed", &core.Job{Landing: core.LandingLanded}, core.LandingDone},
		{"another owner's live lease", &core.Job{Landing: core.LandingActive, LandingOwner: "b", LandingLease: t0.Add(time.Second)}, core.LandingBusy},
		{"another owner's lease ran out", &core.Job{Landing: core.LandingActive, LandingOwner: "b", LandingLease: t0}, core.LandingClaimed},
		{"our own lease", &core.Job{Landing: core.LandingActive, LandingOwner: "a", LandingLease: t0.Add(time.Second)}, core.LandingClaimed},
	} {
		v, next := core.ClaimLanding(tc.job, "a", t0, lease)
		if v != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, v, tc.want)
		}
		if (next != nil) != (v == core.LandingClaimed) {
			t.Errorf("%s: a record to write only when claimed", tc.name)
		}
		if next != nil && (next.LandingOwner != "a" || !next.LandingLease.Equal(lease) || next.Landing != core.LandingActive || next.LandingAttempts != tc.job.LandingAttempts+1) {
			t.Errorf("%s: claimed record %+v", tc.name, next)
		}
	}
	held := &core.Job{Landing: core.LandingActive, LandingOwner: "a", LandingLease: lease}
	for name, fn := range map[string]func(string) (*core.Job, error){
		"renew":   func(o string) (*core.Job, error) { return core.RenewLanding(held, o, t0, lease) },
		"finish":  func(o string) (*core.Job, error) { return core.FinishLanding(held, o, core.Manifest{}, "", t0) },
		"release": func(o string) (*core.Job, error) { return core.ReleaseLanding(held, o, "boom", t0) },
	} {
		if _, err := fn("b"); !errors.Is(err, core.ErrNotOwner) {
			t.Errorf("%s by another owner: %v, want ErrNotOwner", name, err)
		}
		if j, err := fn("a"); err != nil || j == nil {
			t.Errorf("%s by the owner: %v", name, err)
		}
	}
	if j, _ := core.ReleaseLanding(held, "a", "boom", t0); j.Landing != core.LandingPending || j.LandingError != "boom" || j.LandingOwner != "" {
		t.Errorf("released: %+v", j)
	}
}

func TestNoticesOnce(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0).UTC()
	j := core.StartNotice(&core.Job{ID: "x"}, "forward:batch.succeeded", "msg_1", t0)
	if core.StartNotice(j, "forward:batch.succeeded", "msg_2", t0) != nil {
		t.Fatal("a second start replaced the notice's delivery id")
	}
	j = core.SentNotice(j, "forward:batch.succeeded", t0)
	if n := j.Notices["forward:batch.succeeded"]; n.DeliveryID != "msg_1" || !n.SentAt.Equal(t0) {
		t.Fatalf("notice %+v", n)
	}
	if core.SentNotice(j, "forward:batch.succeeded", t0.Add(time.Hour)) != nil {
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
		if got := core.FileName(in); got != want {
			t.Errorf("FileName(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"batches/abc_1-2": "batches/abc_1-2",
		"batches/../etc":  "batches/~2E~2E/etc",
		"files/a.b":       "files/a~2Eb",
		"/x":              "~/x",
	} {
		if got := core.JobPath(in); got != want {
			t.Errorf("JobPath(%q) = %q, want %q", in, got, want)
		}
	}
}
