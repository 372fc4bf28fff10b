package webhooktest

import (
	"time"

	"github.com/geminiwebhooks/receiver/scripts/simulator/gemini"
)

// Event is a delivery as Gemini sends it: the thin v1 envelope (Body) and
// the webhook-id it goes out with. The builders make the body realistic
// (the fields Gemini's guide lists for the type) and the id fresh; a
// redelivery is the same Event delivered again.
type Event struct {
	Type  string // as sent: batch.succeeded, batch.completed, …
	JobID string // the resource the event is about: batches/…, interactions/…, files/…
	ID    string // the webhook-id (msg_…), the key of exactly-once processing
	Body  []byte // the envelope, byte for byte what is signed

	at   time.Time
	data map[string]any
}

// NewEvent builds an event of any type, future ones included, about job (a
// resource name; "" makes a fresh one), stamped now.
func NewEvent(eventType, job string) Event {
	e := Event{Type: eventType, ID: gemini.NewID(), at: time.Now(), data: gemini.Data(eventType, job)}
	e.JobID = e.job()
	return e.marshal()
}

// BatchSucceeded is batch.succeeded: the batch finished, and output_file_uri
// names the file of its results (the one the kit's stand-in serves).
func BatchSucceeded(batch string) Event { return NewEvent("batch.succeeded", batch) }

// BatchCompleted is batch.completed, the name Gemini's guide also uses for
// a finished batch; the receiver treats it as batch.succeeded.
func BatchCompleted(batch string) Event { return NewEvent("batch.completed", batch) }

// BatchCancelled is batch.cancelled: the user cancelled the batch.
func BatchCancelled(batch string) Event { return NewEvent("batch.cancelled", batch) }

// BatchExpired is batch.expired: the batch did not finish within 24 hours.
func BatchExpired(batch string) Event { return NewEvent("batch.expired", batch) }

// BatchFailed is batch.failed with error_code and error_message (empty:
// realistic ones).
func BatchFailed(batch, code, message string) Event {
	return NewEvent("batch.failed", batch).withError(code, message)
}

// InteractionRequiresAction is interaction.requires_action: a function call
// of the interaction waits for the user.
func InteractionRequiresAction(interaction string) Event {
	return NewEvent("interaction.requires_action", interaction)
}

// InteractionCompleted is interaction.completed.
func InteractionCompleted(interaction string) Event {
	return NewEvent("interaction.completed", interaction)
}

// InteractionFailed is interaction.failed with error_code and error_message
// (empty: realistic ones).
func InteractionFailed(interaction, code, message string) Event {
	return NewEvent("interaction.failed", interaction).withError(code, message)
}

// InteractionCancelled is interaction.cancelled.
func InteractionCancelled(interaction string) Event {
	return NewEvent("interaction.cancelled", interaction)
}

// VideoGenerated is video.generated: file_id names the video (files/…) and
// video_uri its download URL.
func VideoGenerated(file string) Event { return NewEvent("video.generated", file) }

// WithUserMetadata returns e carrying a dynamic webhook's user_metadata,
// as Gemini echoes it in each event of the job.
func (e Event) WithUserMetadata(md map[string]any) Event {
	e.data = clone(e.data)
	e.data["user_metadata"] = md
	return e.marshal()
}

// At returns e stamped t (the envelope's timestamp; the signature's is the
// time of delivery).
func (e Event) At(t time.Time) Event {
	e.at = t
	return e.marshal()
}

func (e Event) withError(code, message string) Event {
	e.data = clone(e.data)
	if code != "" {
		e.data["error_code"] = code
	}
	if message != "" {
		e.data["error_message"] = message
	}
	return e.marshal()
}

func (e Event) job() string {
	for _, k := range []string{"id", "file_id"} {
		if s, ok := e.data[k].(string); ok {
			return s
		}
	}
	return ""
}

func (e Event) marshal() Event {
	e.Body = gemini.Marshal(e.Type, e.at, e.data)
	return e
}

func clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}
