package wire_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/gemini/geminitest"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

// Issue 21, part 2: every sample of Gemini's webhooks guide and cookbook,
// as written, signed and sent through the receiver: the job it names is
// tracked under the API's resource name, whether the sample names it so or
// by a bare id (the guide's own envelope says "batch_123456"), confirmed
// against the stand-in, and a finished batch or video lands. Each is sent
// statically signed (Standard Webhooks) and under a dynamic token that
// binds nothing (a hint, which every type must be confirmed for).
func TestGuideAndCookbookSamples(t *testing.T) {
	batchOut := geminitest.File{Name: "files/out-sample", Size: 40_000, Seed: 31}
	video := geminitest.File{Name: "files/abc123", MIMEType: "video/mp4", Size: 8192, Seed: 32}
	tests := []struct {
		name string
		body string
		// stand-in state of the job
		batch       *geminitest.Batch
		interaction *geminitest.Interaction
		job         string        // the ledger's id
		state       jobs.JobState // as the API has it
		land        *geminitest.File
		// staticAsks: a statically signed delivery of this type is
		// confirmed with the API (requires_action is trusted as sent).
		staticAsks bool
	}{
		{name: "guide envelope (batch.completed, bare id, gs:// output, error_count)",
			body: `{
  "type": "batch.completed",
  "version": "v1",
  "timestamp": "2026-01-22T12:00:00Z",
  "data": {
    "id": "batch_123456",
    "output_file_uri": "gs://my-bucket/results.jsonl",
    "error_count": 0
  }
}`,
			batch: &geminitest.Batch{State: "BATCH_STATE_SUCCEEDED", OutputFile: batchOut.Name}, job: "batches/batch_123456", state: jobs.JobSucceeded, land: &batchOut, staticAsks: true},
		{name: "batch.succeeded (id, output_file_uri), resource name",
			body:  `{"type":"batch.succeeded","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"batches/batch_123456","output_file_uri":"files/out-sample"}}`,
			batch: &geminitest.Batch{State: "BATCH_STATE_SUCCEEDED", OutputFile: batchOut.Name}, job: "batches/batch_123456", state: jobs.JobSucceeded, land: &batchOut, staticAsks: true},
		{name: "batch.cancelled (id)",
			body:  `{"type":"batch.cancelled","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"batch_123456"}}`,
			batch: &geminitest.Batch{State: "BATCH_STATE_CANCELLED"}, job: "batches/batch_123456", state: jobs.JobCancelled, staticAsks: true},
		{name: "batch.expired (id)",
			body:  `{"type":"batch.expired","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"batch_123456"}}`,
			batch: &geminitest.Batch{State: "BATCH_STATE_EXPIRED"}, job: "batches/batch_123456", state: jobs.JobExpired, staticAsks: true},
		{name: "batch.failed (id, error_code, error_message)",
			body:  `{"type":"batch.failed","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"batch_123456","error_code":3,"error_message":"Invalid request"}}`,
			batch: &geminitest.Batch{State: "BATCH_STATE_FAILED", ErrorCode: 3, ErrorMessage: "Invalid request"}, job: "batches/batch_123456", state: jobs.JobFailed, staticAsks: true},
		{name: "interaction.requires_action (id), bare",
			body:        `{"type":"interaction.requires_action","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"v1_ChdabcXYZ"}}`,
			interaction: &geminitest.Interaction{Status: "requires_action"}, job: "interactions/v1_ChdabcXYZ", state: jobs.JobRequiresAction},
		{name: "interaction.completed (id), bare",
			body:        `{"type":"interaction.completed","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"v1_ChdabcXYZ"}}`,
			interaction: &geminitest.Interaction{Status: "completed"}, job: "interactions/v1_ChdabcXYZ", state: jobs.JobSucceeded, staticAsks: true},
		{name: "interaction.completed (id), resource name",
			body:        `{"type":"interaction.completed","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"interactions/v1_ChdabcXYZ"}}`,
			interaction: &geminitest.Interaction{Status: "completed"}, job: "interactions/v1_ChdabcXYZ", state: jobs.JobSucceeded, staticAsks: true},
		{name: "interaction.failed (id, error_code, error_message)",
			body:        `{"type":"interaction.failed","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"v1_ChdabcXYZ","error_code":"INTERNAL","error_message":"boom"}}`,
			interaction: &geminitest.Interaction{Status: "failed", ErrorMessage: "boom"}, job: "interactions/v1_ChdabcXYZ", state: jobs.JobFailed, staticAsks: true},
		{name: "interaction.cancelled (id)",
			body:        `{"type":"interaction.cancelled","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"v1_ChdabcXYZ"}}`,
			interaction: &geminitest.Interaction{Status: "cancelled"}, job: "interactions/v1_ChdabcXYZ", state: jobs.JobCancelled, staticAsks: true},
		{name: "video.generated (file_id, video_uri), as the cookbook reads it",
			body: `{"type":"video.generated","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"file_id":"abc123","video_uri":"https://generativelanguage.googleapis.com/v1beta/files/abc123:download?alt=media"}}`,
			job:  "files/abc123", state: jobs.JobSucceeded, land: &video, staticAsks: true},
		{name: "video.generated (file_name, output_file_uri), as the guide's handler reads it",
			body: `{"type":"video.generated","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"file_name":"files/abc123","output_file_uri":"https://generativelanguage.googleapis.com/v1beta/files/abc123:download?alt=media"}}`,
			job:  "files/abc123", state: jobs.JobSucceeded, land: &video, staticAsks: true},
	}
	for _, tc := range tests {
		for _, scheme := range []string{"static", "dynamic hint"} {
			t.Run(scheme+": "+tc.name, func(t *testing.T) {
				api := geminitest.New(apiKey)
				defer api.Close()
				api.AddFile(batchOut)
				api.AddFile(video)
				if tc.batch != nil {
					api.AddBatch("batches/batch_123456", *tc.batch)
				}
				if tc.interaction != nil {
					api.AddInteraction("v1_ChdabcXYZ", *tc.interaction)
				}
				r := startDynamic(t, api, nil)
				var st int
				if scheme == "static" {
					st = r.deliver("msg_sample", []byte(tc.body))
				} else {
					st, _ = r.post(r.bareToken(time.Now()), "", []byte(tc.body))
				}
				if st != http.StatusAccepted {
					t.Fatalf("status %d, want 202", st)
				}
				r.idle()
				j, err := r.app.Processing.Ledger.GetJob(context.Background(), tc.job)
				if err != nil || j == nil {
					t.Fatalf("job %s not tracked (%v); ledger has %v", tc.job, err, r.jobIDs())
				}
				asked := tc.staticAsks || scheme != "static"
				if j.State != tc.state || (j.APIState != "") != asked {
					t.Fatalf("job %+v, want %s, confirmed with the API: %v", j, tc.state, asked)
				}
				run := tc.job + " " + j.LastEvent + " confirmed=" + map[bool]string{true: "true", false: "false"}[asked]
				if r.h.count(run) != 1 || r.h.total() != 1 {
					t.Fatalf("handler runs %v, want one %q", r.h.runs, run)
				}
				if tc.land != nil {
					if j.Landing != jobs.LandingLanded {
						t.Fatalf("not landed: %+v", j)
					}
					if tc.land.MIMEType == "" {
						checkLanded(t, j, r.sink, *tc.land)
					} else if j.Output.Bytes != tc.land.Size || j.Output.Source != tc.land.Name {
						t.Fatalf("landed %+v, want %s", j.Output, tc.land.Name)
					}
				}
			})
		}
	}
}

// jobIDs lists the ledger's job ids, for a failure message.
func (r *receiver) jobIDs() []string {
	list, _ := r.app.Processing.Ledger.ListJobs(context.Background(), 100)
	ids := make([]string, len(list))
	for i, j := range list {
		ids[i] = j.ID
	}
	return ids
}
