package core

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/geminiwebhooks/receiver/core/internal/text"
)

// The event catalogue of Gemini's webhooks guide.
const (
	BatchSucceeded            = "batch.succeeded"
	BatchCancelled            = "batch.cancelled"
	BatchExpired              = "batch.expired"
	BatchFailed               = "batch.failed"
	InteractionRequiresAction = "interaction.requires_action"
	InteractionCompleted      = "interaction.completed"
	InteractionFailed         = "interaction.failed"
	InteractionCancelled      = "interaction.cancelled"
	VideoGenerated            = "video.generated"

	// batchCompletedAlias appears in the guide's own examples; it means batch.succeeded.
	batchCompletedAlias = "batch.completed"
)

// EventTypes lists the nine catalogue types.
var EventTypes = []string{
	BatchSucceeded, BatchCancelled, BatchExpired, BatchFailed,
	InteractionRequiresAction, InteractionCompleted, InteractionFailed, InteractionCancelled,
	VideoGenerated,
}

// KnownEventType reports whether t is in the catalogue (aliases included).
func KnownEventType(t string) bool {
	if t == batchCompletedAlias {
		return true
	}
	for _, k := range EventTypes {
		if k == t {
			return true
		}
	}
	return false
}

// Event is Gemini's thin envelope: a pointer to a job, not its output.
type Event struct {
	Type      string    `json:"type"`
	Version   string    `json:"version"`
	Timestamp string    `json:"timestamp,omitempty"`
	Data      EventData `json:"data"`
	// UserMetadata is the job's webhook_config.user_metadata, wherever the
	// envelope puts it (top level or inside data).
	UserMetadata map[string]any `json:"user_metadata,omitempty"`

	// Set by the receiver, not sent by Gemini.
	OriginalType string   `json:"-"` // the type as sent, before alias folding
	Delivery     Delivery `json:"-"`
	Raw          []byte   `json:"-"` // the verified body

	// Confirmed is set by the built-in actions (core/jobs) when the Gemini
	// API confirmed the job state this event reports (the batch succeeded,
	// the interaction requires action, the video was generated, …), now or
	// in an earlier delivery the job ledger recorded. A handler only ever
	// sees a hint (Delivery.Hint) confirmed; its data then holds what the
	// API says (output_file_uri, error_code, error_message) instead of what
	// the body said, and video_uri is cleared (read the landed video with
	// jobs.Landed or the file by FileID). Without the built-in actions, or
	// for a static delivery the API did not confirm, it is false.
	Confirmed bool `json:"-"`
}

// EventData holds every data field of the catalogue; each type uses some.
type EventData struct {
	ID            string         `json:"id,omitempty"`
	OutputFileURI string         `json:"output_file_uri,omitempty"`
	ErrorCode     Code           `json:"error_code,omitempty"`
	ErrorMessage  string         `json:"error_message,omitempty"`
	ErrorCount    *int64         `json:"error_count,omitempty"`
	FileID        string         `json:"file_id,omitempty"`
	VideoURI      string         `json:"video_uri,omitempty"`
	FileName      string         `json:"file_name,omitempty"`
	UserMetadata  map[string]any `json:"user_metadata,omitempty"`
}

// Code is an error code that Gemini may send as a number or a string.
type Code string

func (c *Code) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*c = ""
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*c = Code(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("error_code is neither a string nor a number")
	}
	*c = Code(n.String())
	return nil
}

// ParseEvent reads an already verified body. It fails with ErrNotUnderstood
// for anything that is not a v1 envelope with a type; unknown types pass
// (forward compatible).
func ParseEvent(body []byte) (*Event, error) {
	ev := &Event{}
	if err := json.Unmarshal(body, ev); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrNotUnderstood, jsonReason(err))
	}
	if ev.Type == "" {
		return nil, fmt.Errorf("%w: no event type", ErrNotUnderstood)
	}
	if ev.Version != "" && ev.Version != "v1" {
		return nil, fmt.Errorf("%w: unsupported envelope version %q", ErrNotUnderstood, text.Truncate(ev.Version, 16))
	}
	ev.OriginalType = ev.Type
	if ev.Type == batchCompletedAlias {
		ev.Type = BatchSucceeded
	}
	if ev.UserMetadata == nil {
		ev.UserMetadata = ev.Data.UserMetadata
	}
	ev.Raw = body
	return ev, nil
}

// JobID is the Gemini resource the event is about, as the API names it
// (batches/…, interactions/…, files/…), whether the event sent that name or
// a bare id (NormalizeJobID); "" when it names none.
func (e *Event) JobID() string {
	id := e.Data.ID
	if id == "" {
		id = e.Data.FileID
	}
	if id == "" && e.Type == VideoGenerated {
		id = e.Data.FileName // some samples name the video's file so
	}
	return NormalizeJobID(JobKind(e.Type), id)
}

// JobKind names the kind of job an event type is about: batch,
// interaction, video, or other.
func JobKind(eventType string) string {
	switch {
	case strings.HasPrefix(eventType, "batch."):
		return "batch"
	case strings.HasPrefix(eventType, "interaction."):
		return "interaction"
	case strings.HasPrefix(eventType, "video."):
		return "video"
	}
	return "other"
}

// Time is the envelope's timestamp, or the zero time when absent or unparsable.
func (e *Event) Time() time.Time {
	t, _ := time.Parse(time.RFC3339Nano, e.Timestamp)
	return t
}

func jsonReason(err error) string {
	switch e := err.(type) {
	case *json.SyntaxError:
		return "invalid JSON at offset " + strconv.FormatInt(e.Offset, 10)
	case *json.UnmarshalTypeError:
		return "field " + text.Truncate(e.Field, 64) + " has the wrong JSON type"
	}
	return "invalid JSON"
}
