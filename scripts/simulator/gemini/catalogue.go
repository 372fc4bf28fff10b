package gemini

import (
	"crypto/rand"
	"encoding/json"
	"time"
)

// Catalogue is every event type Gemini's webhooks guide names, plus
// batch.completed, which the guide's own examples send for a finished batch.
var Catalogue = []string{
	"batch.succeeded",
	"batch.completed",
	"batch.cancelled",
	"batch.expired",
	"batch.failed",
	"interaction.requires_action",
	"interaction.completed",
	"interaction.failed",
	"interaction.cancelled",
	"video.generated",
}

// Envelope is Gemini's thin payload: a pointer to a job, not its output.
type Envelope struct {
	Type      string         `json:"type"`
	Version   string         `json:"version"`
	Timestamp string         `json:"timestamp"`
	Data      map[string]any `json:"data"`
}

// Payload is a realistic body for eventType with fresh resource ids, stamped now.
func Payload(eventType string) []byte {
	return NewPayload(eventType, time.Now(), nil)
}

// NewPayload builds the body of eventType at now. userMetadata, when not
// nil, is echoed in data as a dynamic webhook's job does. Types outside the
// catalogue get a plain id, the shape a future type is likely to have.
func NewPayload(eventType string, now time.Time, userMetadata map[string]any) []byte {
	b, err := json.Marshal(Envelope{
		Type:      eventType,
		Version:   "v1",
		Timestamp: now.UTC().Format(time.RFC3339),
		Data:      eventData(eventType, userMetadata),
	})
	if err != nil {
		panic(err) // only strings and user-provided JSON values: cannot fail
	}
	return b
}

func eventData(eventType string, userMetadata map[string]any) map[string]any {
	batch := "batches/" + randomString(22, lower)
	interaction := "interactions/" + randomString(22, lower)
	var d map[string]any
	switch eventType {
	case "batch.succeeded", "batch.completed":
		d = map[string]any{"id": batch, "output_file_uri": "files/batch-" + randomString(16, lower), "error_count": 0}
	case "batch.cancelled", "batch.expired":
		d = map[string]any{"id": batch}
	case "batch.failed":
		// Gemini does not document the code's type; numeric google.rpc codes
		// here and status names below exercise both.
		d = map[string]any{"id": batch, "error_code": 3, "error_message": "Invalid request: line 17 of the input file is not valid JSON."}
	case "interaction.requires_action", "interaction.completed", "interaction.cancelled":
		d = map[string]any{"id": interaction}
	case "interaction.failed":
		d = map[string]any{"id": interaction, "error_code": "RESOURCE_EXHAUSTED", "error_message": "Quota exceeded for the model; try again later."}
	case "video.generated":
		file := randomString(12, lower)
		d = map[string]any{
			"file_id":   "files/" + file,
			"video_uri": "https://generativelanguage.googleapis.com/v1beta/files/" + file + ":download?alt=media",
		}
	default:
		d = map[string]any{"id": "operations/" + randomString(22, lower)}
	}
	if userMetadata != nil {
		d["user_metadata"] = userMetadata
	}
	return d
}

// NewID is a fresh webhook-id in the Standard Webhooks style (msg_ + 24 alphanumerics).
func NewID() string {
	return "msg_" + randomString(24, alnum)
}

const (
	lower = "abcdefghijklmnopqrstuvwxyz0123456789"
	alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	// The modulo's slight bias does not matter for ids that only need to be unique.
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
