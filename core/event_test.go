package core

import (
	"errors"
	"reflect"
	"testing"
)

func TestParseEventCatalogue(t *testing.T) {
	md := map[string]any{"job_group": "nightly-eval", "priority": "high"}
	tests := []struct {
		body string
		want any
	}{
		{`{"type":"batch.succeeded","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"batches/1","output_file_uri":"files/out-1"},"user_metadata":{"job_group":"nightly-eval","priority":"high"}}`,
			BatchSucceededEvent{ID: "batches/1", OutputFileURI: "files/out-1", UserMetadata: md}},
		{`{"type":"batch.completed","version":"v1","data":{"id":"batches/2","output_file_uri":"gs://b/r.jsonl","error_count":0,"user_metadata":{"job_group":"nightly-eval","priority":"high"}}}`,
			BatchSucceededEvent{ID: "batches/2", OutputFileURI: "gs://b/r.jsonl", UserMetadata: md}},
		{`{"type":"batch.cancelled","version":"v1","data":{"id":"batches/3"}}`, BatchCancelledEvent{ID: "batches/3"}},
		{`{"type":"batch.expired","version":"v1","data":{"id":"batches/4"}}`, BatchExpiredEvent{ID: "batches/4"}},
		{`{"type":"batch.failed","version":"v1","data":{"id":"batches/5","error_code":3,"error_message":"invalid input"}}`,
			BatchFailedEvent{ID: "batches/5", ErrorCode: "3", ErrorMessage: "invalid input"}},
		{`{"type":"batch.failed","version":"v1","data":{"id":"batches/6","error_code":"INVALID_ARGUMENT","error_message":"x"}}`,
			BatchFailedEvent{ID: "batches/6", ErrorCode: "INVALID_ARGUMENT", ErrorMessage: "x"}},
		{`{"type":"interaction.requires_action","version":"v1","data":{"id":"interactions/7"}}`, InteractionRequiresActionEvent{ID: "interactions/7"}},
		{`{"type":"interaction.completed","version":"v1","data":{"id":"interactions/8"}}`, InteractionCompletedEvent{ID: "interactions/8"}},
		{`{"type":"interaction.failed","version":"v1","data":{"id":"interactions/9","error_code":13,"error_message":"internal"}}`,
			InteractionFailedEvent{ID: "interactions/9", ErrorCode: "13", ErrorMessage: "internal"}},
		{`{"type":"interaction.cancelled","version":"v1","data":{"id":"interactions/10"}}`, InteractionCancelledEvent{ID: "interactions/10"}},
		{`{"type":"video.generated","version":"v1","data":{"file_id":"files/v11","video_uri":"gs://b/v.mp4"}}`,
			VideoGeneratedEvent{FileID: "files/v11", VideoURI: "gs://b/v.mp4"}},
		{`{"type":"video.generated","version":"v1","data":{"file_id":"files/v12","output_file_uri":"files/v12","file_name":"v.mp4"}}`,
			VideoGeneratedEvent{FileID: "files/v12", VideoURI: "files/v12", FileName: "v.mp4"}},
		{`{"type":"model.tuned","version":"v1","data":{"id":"tunedModels/13"}}`, UnknownEvent{Type: "model.tuned", ID: "tunedModels/13"}},
		{`{"type":"batch.cancelled","data":{"id":"batches/14"}}`, BatchCancelledEvent{ID: "batches/14"}}, // version absent: v1
	}
	for _, tc := range tests {
		ev, err := ParseEvent([]byte(tc.body))
		if err != nil {
			t.Errorf("ParseEvent(%s): %v", tc.body, err)
			continue
		}
		if got := ev.Typed(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseEvent(%s).Typed() = %#v, want %#v", tc.body, got, tc.want)
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
