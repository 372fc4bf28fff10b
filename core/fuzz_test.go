package core_test

import (
	"errors"
	"testing"

	. "github.com/geminiwebhooks/receiver/core"
)

func FuzzParseEvent(f *testing.F) {
	for _, s := range []string{
		okBody,
		`{"type":"batch.failed","version":"v1","data":{"id":"b","error_code":3}}`,
		`{"type":"video.generated","data":{"file_id":"f"}}`,
		`{"type":"x","version":"v2"}`,
		`{`, `null`, `{"type":"batch.completed","user_metadata":{"a":[1,2]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := ParseEvent(body)
		if err != nil {
			if !errors.Is(err, ErrNotUnderstood) {
				t.Fatalf("error %v does not wrap ErrNotUnderstood", err)
			}
			return
		}
		if ev.Type == "" || (ev.Version != "" && ev.Version != "v1") || ev.Type == "batch.completed" {
			t.Fatalf("accepted %+v", ev)
		}
		_ = ev.JobID()
	})
}
