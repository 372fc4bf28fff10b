package gemini

import (
	"crypto/rand"
	"encoding/json"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/gemini/geminitest"
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

// NewPayload builds the body of eventType at now about a fresh job.
// userMetadata, when not nil, is echoed in data as a dynamic webhook's job
// does. Types outside the catalogue get a plain id, the shape a future type
// is likely to have.
func NewPayload(eventType string, now time.Time, userMetadata map[string]any) []byte {
	d := Data(eventType, "")
	if userMetadata != nil {
		d["user_metadata"] = userMetadata
	}
	return Marshal(eventType, now, d)
}

// Marshal is the v1 envelope of eventType at now with data.
func Marshal(eventType string, now time.Time, data map[string]any) []byte {
	b, err := json.Marshal(Envelope{
		Type:      eventType,
		Version:   "v1",
		Timestamp: now.UTC().Format(time.RFC3339),
		Data:      data,
	})
	if err != nil {
		panic(err) // only strings and user-provided JSON values: cannot fail
	}
	return b
}

// Data is the realistic data object of eventType about job, a resource
// name (batches/…, interactions/…, files/…; "" makes a fresh one). A
// finished batch names the output file the API stand-in
// (adapters/gemini/geminitest, in its automatic mode) serves for it, so a
// receiver pointed at the stand-in lands what the event announces.
func Data(eventType, job string) map[string]any {
	fresh := func(prefix string) string {
		if job != "" {
			return job
		}
		return prefix + randomString(22, lower)
	}
	switch eventType {
	case "batch.succeeded", "batch.completed":
		batch := fresh("batches/")
		return map[string]any{"id": batch, "output_file_uri": geminitest.AutoOutput(batch), "error_count": 0}
	case "batch.cancelled", "batch.expired":
		return map[string]any{"id": fresh("batches/")}
	case "batch.failed":
		// Gemini does not document the code's type; numeric google.rpc codes
		// here and status names below exercise both.
		return map[string]any{"id": fresh("batches/"), "error_code": 3, "error_message": "Invalid request: line 17 of the input file is not valid JSON."}
	case "interaction.requires_action", "interaction.completed", "interaction.cancelled":
		return map[string]any{"id": fresh("interactions/")}
	case "interaction.failed":
		return map[string]any{"id": fresh("interactions/"), "error_code": "RESOURCE_EXHAUSTED", "error_message": "Quota exceeded for the model; try again later."}
	case "video.generated":
		file := fresh("files/")
		return map[string]any{
			"file_id":   file,
			"video_uri": "https://generativelanguage.googleapis.com/v1beta/" + file + ":download?alt=media",
		}
	}
	return map[string]any{"id": fresh("operations/")}
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
