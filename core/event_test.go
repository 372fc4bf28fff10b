package core

import (
	"errors"
	"reflect"
	"testing"
)

// ParseEvent reads every catalogue type into Event's own fields: the job's
// resource name (JobID), the data Gemini documents for the type, and
// user_metadata wherever the envelope puts it.
func TestParseEventCatalogue(t *testing.T) {
	md := map[string]any{"job_group": "nightly-eval", "priority": "high"}
	tests := []struct {
		body string
		typ  string
		job  string
		data EventData // the fields compared: OutputFileURI, ErrorCode, ErrorMessage, VideoURI, FileName
		md   map[string]any
	}{
		{`{"type":"batch.succeeded","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"batches/1","output_file_uri":"files/out-1"},"user_metadata":{"job_group":"nightly-eval","priority":"high"}}`,
			BatchSucceeded, "batches/1", EventData{OutputFileURI: "files/out-1"}, md},
		{`{"type":"batch.completed","version":"v1","data":{"id":"batches/2","output_file_uri":"gs://b/r.jsonl","error_count":0,"user_metadata":{"job_group":"nightly-eval","priority":"high"}}}`,
			BatchSucceeded, "batches/2", EventData{OutputFileURI: "gs://b/r.jsonl"}, md},
		{`{"type":"batch.cancelled","version":"v1","data":{"id":"batches/3"}}`, BatchCancelled, "batches/3", EventData{}, nil},
		{`{"type":"batch.expired","version":"v1","data":{"id":"4"}}`, BatchExpired, "batches/4", EventData{}, nil},
		{`{"type":"batch.failed","version":"v1","data":{"id":"batches/5","error_code":3,"error_message":"invalid input"}}`,
			BatchFailed, "batches/5", EventData{ErrorCode: "3", ErrorMessage: "invalid input"}, nil},
		{`{"type":"batch.failed","version":"v1","data":{"id":"batches/6","error_code":"INVALID_ARGUMENT","error_message":"x"}}`,
			BatchFailed, "batches/6", EventData{ErrorCode: "INVALID_ARGUMENT", ErrorMessage: "x"}, nil},
		{`{"type":"interaction.requires_action","version":"v1","data":{"id":"interactions/7"}}`, InteractionRequiresAction, "interactions/7", EventData{}, nil},
		{`{"type":"interaction.completed","version":"v1","data":{"id":"interactions/8"}}`, InteractionCompleted, "interactions/8", EventData{}, nil},
		{`{"type":"interaction.failed","version":"v1","data":{"id":"interactions/9","error_code":13,"error_message":"internal"}}`,
			InteractionFailed, "interactions/9", EventData{ErrorCode: "13", ErrorMessage: "internal"}, nil},
		{`{"type":"interaction.cancelled","version":"v1","data":{"id":"interactions/10"}}`, InteractionCancelled, "interactions/10", EventData{}, nil},
		{`{"type":"video.generated","version":"v1","data":{"file_id":"files/v11","video_uri":"gs://b/v.mp4"}}`,
			VideoGenerated, "files/v11", EventData{VideoURI: "gs://b/v.mp4"}, nil},
		{`{"type":"video.generated","version":"v1","data":{"file_id":"files/v12","output_file_uri":"files/v12","file_name":"v.mp4"}}`,
			VideoGenerated, "files/v12", EventData{OutputFileURI: "files/v12", FileName: "v.mp4"}, nil},
		{`{"type":"model.tuned","version":"v1","data":{"id":"tunedModels/13"}}`, "model.tuned", "tunedModels/13", EventData{}, nil},
		{`{"type":"batch.cancelled","data":{"id":"batches/14"}}`, BatchCancelled, "batches/14", EventData{}, nil}, // version absent: v1
	}
	for _, tc := range tests {
		ev, err := ParseEvent([]byte(tc.body))
		if err != nil {
			t.Errorf("ParseEvent(%s): %v", tc.body, err)
			continue
		}
		d := ev.Data
		got := EventData{OutputFileURI: d.OutputFileURI, ErrorCode: d.ErrorCode, ErrorMessage: d.ErrorMessage, VideoURI: d.VideoURI, FileName: d.FileName}
		if ev.Type != tc.typ || ev.JobID() != tc.job || !reflect.DeepEqual(got, tc.data) || !reflect.DeepEqual(ev.UserMetadata, tc.md) {
			t.Errorf("ParseEvent(%s) = type %q, job %q, data %+v, metadata %v; want %q, %q, %+v, %v",
				tc.body, ev.Type, ev.JobID(), got, ev.UserMetadata, tc.typ, tc.job, tc.data, tc.md)
		}
	}
	ev, _ := ParseEvent([]byte(`{"type":"batch.completed","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"b"}}`))
	if ev.Type != BatchSucceeded || ev.OriginalType != "batch.completed" || ev.Time().IsZero() {
		t.Errorf("alias: %+v", ev)
	}
	if len(EventTypes) != 9 {
		t.Errorf("catalogue has %d types", len(EventTypes))
	}
}

func TestParseEventNotUnderstood(t *testing.T) {
	for _, body := range []string{
		``,
		`null`,
		`[]`,
		`{"type":`,
		`{"version":"v1","data":{}}`,
		`{"type":"batch.succeeded","version":"v2","data":{}}`,
		`{"type":42}`,
		`{"type":"batch.failed","data":{"error_code":{"nested":true}}}`,
	} {
		if _, err := ParseEvent([]byte(body)); !errors.Is(err, ErrNotUnderstood) {
			t.Errorf("ParseEvent(%q) err = %v, want ErrNotUnderstood", body, err)
		}
	}
}
