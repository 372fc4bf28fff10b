package gemini_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/scripts/simulator/gemini"
)

// Every payload is a v1 envelope the receiver's parser reads into the typed
// event of its type, with the data fields Gemini documents for it.
func TestPayloadCatalogue(t *testing.T) {
	now := time.Date(2026, 1, 22, 12, 0, 0, 0, time.UTC)
	md := map[string]any{"job_group": "nightly-eval", "priority": "high"}
	uri := regexp.MustCompile(`^(files/|gs://|https://)`)

	if len(gemini.Catalogue) != len(core.EventTypes)+1 {
		t.Fatalf("catalogue has %d types, want core's %d plus batch.completed", len(gemini.Catalogue), len(core.EventTypes))
	}
	for _, typ := range gemini.Catalogue {
		t.Run(typ, func(t *testing.T) {
			body := gemini.NewPayload(typ, now, md)
			ev, err := core.ParseEvent(body)
			if err != nil {
				t.Fatalf("core cannot parse %s: %v", body, err)
			}
			if !core.KnownEventType(ev.OriginalType) || ev.OriginalType != typ {
				t.Fatalf("type %q (original %q), want %q in the catalogue", ev.Type, ev.OriginalType, typ)
			}
			if ev.Version != "v1" || !ev.Time().Equal(now) {
				t.Fatalf("version %q, time %v: want v1 at %v", ev.Version, ev.Time(), now)
			}
			if ev.UserMetadata["job_group"] != "nightly-eval" {
				t.Fatalf("user_metadata %v not echoed", ev.UserMetadata)
			}
			d, job := ev.Data, ev.JobID()
			switch ev.Type {
			case core.BatchSucceeded:
				if !strings.HasPrefix(job, "batches/") || !uri.MatchString(d.OutputFileURI) {
					t.Fatalf("%+v: want a batches/ id and an output URI", d)
				}
			case core.BatchFailed:
				if !strings.HasPrefix(job, "batches/") || d.ErrorCode == "" || d.ErrorMessage == "" {
					t.Fatalf("%+v: want id, error_code, error_message", d)
				}
			case core.InteractionFailed:
				if job == "" || d.ErrorCode == "" || d.ErrorMessage == "" {
					t.Fatalf("%+v: want id, error_code, error_message", d)
				}
			case core.VideoGenerated:
				if !strings.HasPrefix(job, "files/") || !uri.MatchString(d.VideoURI+d.OutputFileURI) {
					t.Fatalf("%+v: want a files/ id and a video URI", d)
				}
			default:
				if job == "" {
					t.Fatalf("%+v: no id", d)
				}
			}
		})
	}
}

func TestPayloadFreshIDsAndNoMetadataWhenStatic(t *testing.T) {
	a, b := gemini.Payload("batch.succeeded"), gemini.Payload("batch.succeeded")
	var ea, eb gemini.Envelope
	if err := json.Unmarshal(a, &ea); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &eb); err != nil {
		t.Fatal(err)
	}
	if ea.Data["id"] == eb.Data["id"] {
		t.Fatalf("two payloads share the batch id %v", ea.Data["id"])
	}
	if _, ok := ea.Data["user_metadata"]; ok {
		t.Fatal("a static payload carries user_metadata")
	}
	if a, b := gemini.NewID(), gemini.NewID(); a == b {
		t.Fatal("two webhook ids are equal")
	}
	if !regexp.MustCompile(`^msg_[A-Za-z0-9]{24}$`).MatchString(gemini.NewID()) {
		t.Fatal("webhook id is not msg_ and 24 alphanumerics")
	}
}

func TestPayloadUnknownTypeStillParses(t *testing.T) {
	ev, err := core.ParseEvent(gemini.Payload("model.tuned"))
	if err != nil {
		t.Fatal(err)
	}
	if core.KnownEventType(ev.Type) || ev.JobID() == "" {
		t.Fatalf("unknown type read as %q with id %q", ev.Type, ev.JobID())
	}
}
