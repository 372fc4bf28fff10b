package core_test

import (
	"context"
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
