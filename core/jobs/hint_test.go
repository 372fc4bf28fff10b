package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

// hintKey is a key the dynamic verifier gives a token that binds nothing.
const hintKey = "jwt:hint:id:msg_hint"

// Issue 21: the body of a delivery whose token binds nothing is a hint.
// Nothing it says is written, landed or handed to a handler until the
// Gemini API reports the same state; what it says about outputs is replaced
// by the API's.
func TestHintsConfirmedByAPI(t *testing.T) {
	succeeded := jobs.BatchStatus{APIState: "JOB_STATE_SUCCEEDED", State: jobs.JobSucceeded, OutputFile: "files/o"}
	running := jobs.BatchStatus{APIState: "JOB_STATE_RUNNING", State: jobs.JobRunning}
	failed := jobs.BatchStatus{APIState: "JOB_STATE_FAILED", State: jobs.JobFailed, ErrorCode: "13", ErrorMessage: "internal"}
	iaWaiting := jobs.InteractionStatus{APIState: "requires_action", State: jobs.JobRequiresAction}
	iaDone := jobs.InteractionStatus{APIState: "completed", State: jobs.JobSucceeded}
	video := jobs.FileStatus{State: "ACTIVE", Origin: jobs.OriginGenerated, ContentType: "video/mp4"}
	type want struct {
		err       string // "": nil; "retry", "dead letter"
		handler   bool
		state     jobs.JobState // "": no job in the ledger
		landed    bool
		outputURI string // what the handler sees in data.output_file_uri
	}
	tests := []struct {
		name    string
		scheme  core.Scheme
		id      string // delivery id
		body    string
		batch   *jobs.BatchStatus
		ia      *jobs.InteractionStatus
		file    *jobs.FileStatus
		noAPI   bool
		want    want
		confirm bool // the handler sees Confirmed
	}{
		{name: "succeeded, as the API says: landed from the API's output, not the body's",
			body:  `{"type":"batch.succeeded","version":"v1","data":{"id":"batches/b","output_file_uri":"gs://attacker/x"}}`,
			batch: &succeeded, want: want{handler: true, state: jobs.JobSucceeded, landed: true, outputURI: "files/o"}, confirm: true},
		{name: "the guide's bare id, confirmed",
			body:  `{"type":"batch.completed","version":"v1","data":{"id":"b","output_file_uri":"gs://my-bucket/results.jsonl","error_count":0}}`,
			batch: &succeeded, want: want{handler: true, state: jobs.JobSucceeded, landed: true, outputURI: "files/o"}, confirm: true},
		{name: "forged failure of a running batch: retried later, nothing written",
			body:  `{"type":"batch.failed","version":"v1","data":{"id":"batches/b","error_code":3}}`,
			batch: &running, want: want{err: "retry"}},
		{name: "forged failure of a succeeded batch: refuted, nothing written",
			body:  `{"type":"batch.failed","version":"v1","data":{"id":"batches/b","error_code":3}}`,
			batch: &succeeded, want: want{}},
		{name: "failure the API confirms: its reason, not the body's",
			body:  `{"type":"batch.failed","version":"v1","data":{"id":"batches/b","error_code":3,"error_message":"forged"}}`,
			batch: &failed, want: want{handler: true, state: jobs.JobFailed}, confirm: true},
		{name: "a batch the API does not know (a key of another project?): a dead letter, not acted on",
			body: `{"type":"batch.succeeded","version":"v1","data":{"id":"batches/nope"}}`,
			want: want{err: "dead letter"}},
		{name: "no API client: a dead letter, not acted on",
			body:  `{"type":"batch.succeeded","version":"v1","data":{"id":"batches/b"}}`,
			noAPI: true, want: want{err: "dead letter"}},
		{name: "an unknown type cannot be confirmed: a dead letter",
			body: `{"type":"model.tuned","version":"v1","data":{"id":"tunedModels/t"}}`,
			want: want{err: "dead letter"}},
		{name: "requires_action as the API says",
			body: `{"type":"interaction.requires_action","version":"v1","data":{"id":"v1_ChdabcXYZ"}}`,
			ia:   &iaWaiting, want: want{handler: true, state: jobs.JobRequiresAction}, confirm: true},
		{name: "requires_action of a completed interaction: refuted",
			body: `{"type":"interaction.requires_action","version":"v1","data":{"id":"interactions/v1_ChdabcXYZ"}}`,
			ia:   &iaDone, want: want{}},
		{name: "interaction completed as the API says",
			body: `{"type":"interaction.completed","version":"v1","data":{"id":"interactions/v1_ChdabcXYZ"}}`,
			ia:   &iaDone, want: want{handler: true, state: jobs.JobSucceeded}, confirm: true},
		{name: "a generated video the API confirms",
			body: `{"type":"video.generated","version":"v1","data":{"file_id":"vid1","video_uri":"https://attacker.example/v.mp4"}}`,
			file: &video, want: want{handler: true, state: jobs.JobSucceeded, landed: true}, confirm: true},
		{name: "a static delivery the API confirms is Confirmed too", scheme: core.SchemeStatic, id: "msg_static",
			body:  `{"type":"batch.succeeded","version":"v1","data":{"id":"batches/b"}}`,
			batch: &succeeded, want: want{handler: true, state: jobs.JobSucceeded, landed: true, outputURI: ""}, confirm: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			r := newRig(t)
			fetch := &originFiles{memFiles: memFiles{data: map[string]string{"files/o": output, "files/vid1": "video bytes"}},
				origin: map[string]string{"files/vid1": jobs.OriginGenerated}, types: map[string]string{"files/vid1": "video/mp4"}}
			bs := &memBatches{st: map[string]jobs.BatchStatus{}}
			ia := &memInteractions{st: map[string]jobs.InteractionStatus{}}
			fs := &memStat{st: map[string]jobs.FileStatus{}}
			if tc.batch != nil {
				bs.st["batches/b"] = *tc.batch
			}
			if tc.ia != nil {
				ia.st["interactions/v1_ChdabcXYZ"] = *tc.ia
			}
			if tc.file != nil {
				fs.st["files/vid1"] = *tc.file
			}
			cfg := jobs.Config{Ledger: r.ledger, Fetcher: fetch, Sink: r.sink, Logger: discard()}
			if !tc.noAPI {
				cfg.Batches, cfg.Interactions, cfg.Files = bs, ia, fs
			}
			acts, err := jobs.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ev, err := core.ParseEvent([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			ev.Delivery = core.Delivery{ID: hintKey, Scheme: core.SchemeDynamic}
			if tc.scheme != "" {
				ev.Delivery = core.Delivery{ID: tc.id, Scheme: tc.scheme}
			}
			ctx, line := core.WithLineAttrs(ctx)
			var seen *core.Event
			err = core.NewMux().Default(func(_ context.Context, ev *core.Event) error {
				c := *ev
				seen = &c
				return nil
			}).With(acts.Middleware).Process(ctx, ev)

			var later *core.RetryLaterError
			switch tc.want.err {
			case "":
				if err != nil {
					t.Fatalf("Process: %v", err)
				}
			case "retry":
				if !errors.As(err, &later) {
					t.Fatalf("Process: %v, want a retry later", err)
				}
			case "dead letter":
				if !errors.Is(err, core.ErrPermanent) || !errors.Is(err, jobs.ErrNotConfirmed) {
					t.Fatalf("Process: %v, want a permanent failure (dead letter)", err)
				}
			}
			if refuted := tc.want.err == "" && !tc.want.handler; refuted != strings.Contains(fmt.Sprint(line.Attrs()), "confirmed=false") {
				t.Fatalf("delivery line %v; refuted: %v", line.Attrs(), refuted)
			}
			if (seen != nil) != tc.want.handler {
				t.Fatalf("handler ran: %v, want %v", seen != nil, tc.want.handler)
			}
			if seen != nil {
				if seen.Confirmed != tc.confirm {
					t.Fatalf("handler saw Confirmed %v, want %v", seen.Confirmed, tc.confirm)
				}
				if ev.Delivery.Hint() && (seen.Data.OutputFileURI != tc.want.outputURI || seen.Data.VideoURI != "" || seen.Data.ErrorMessage == "forged") {
					t.Fatalf("handler saw data %+v, want the API's (output %q)", seen.Data, tc.want.outputURI)
				}
			}
			list, _ := r.ledger.ListJobs(ctx, 10)
			if tc.want.state == "" {
				if len(list) != 0 {
					t.Fatalf("ledger %+v, want nothing written", list)
				}
				return
			}
			if len(list) != 1 || list[0].State != tc.want.state || (list[0].Landing == jobs.LandingLanded) != tc.want.landed {
				t.Fatalf("ledger %+v, want one job %s landed %v", list, tc.want.state, tc.want.landed)
			}
			if list[0].State == jobs.JobFailed && list[0].ErrorMessage != "internal" {
				t.Fatalf("failure reason %q, want the API's", list[0].ErrorMessage)
			}
		})
	}
}
