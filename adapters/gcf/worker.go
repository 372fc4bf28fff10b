package gcf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/geminiwebhooks/receiver/adapters/internal/pubsub"
	"github.com/geminiwebhooks/receiver/adapters/internal/wire"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/tasks"
)

// WorkerEntryPoint is the Pub/Sub-triggered function's name.
const WorkerEntryPoint = "GeminiWorker"

// Worker serves GeminiWorker: each CloudEvent carries one Pub/Sub message
// that GeminiWebhook published, and the job processor acts on its event.
// Returning nil acknowledges the message; returning an error makes
// Pub/Sub deliver it again (the function is deployed with --retry; without
// it a failed event would be dropped), until the subscription's dead-letter
// policy moves it to the dead-letter topic. A message that can never
// succeed is kept as a dead letter in the store and acknowledged, so a
// poison message does not use up the attempts.
//
// Like GeminiWebhook, it reads the configuration once, at start-up (a bad one
// is logged there, and every event fails until a redeploy: Pub/Sub keeps
// them), and builds the app on the first event (instance).
type Worker struct {
	instance
}

// NewWorker reads the configuration through getenv; the worker runs mux.
func NewWorker(getenv func(string) string, log *slog.Logger, mux *core.Mux) *Worker {
	return newWorker(getenv, log, mux, wireBuild)
}

func newWorker(getenv func(string) string, log *slog.Logger, mux *core.Mux, build buildFunc) *Worker {
	w := &Worker{}
	w.load(WorkerEntryPoint, getenv, log, mux, build, nil, "every event fails (Pub/Sub redelivers it, then dead-letters it)")
	return w
}

// messagePublished is the CloudEvent's data, google.events.cloud.pubsub.v1.
// MessagePublishedData, as Eventarc sends it and as the Functions Framework
// makes it from a plain push (the emulator's).
type messagePublished struct {
	Message struct {
		Data        []byte            `json:"data"` // base64 in JSON
		Attributes  map[string]string `json:"attributes"`
		MessageID   string            `json:"messageId"`
		PublishTime time.Time         `json:"publishTime"`
	} `json:"message"`
	Subscription    string `json:"subscription"`
	DeliveryAttempt int    `json:"deliveryAttempt"` // with a dead-letter policy, when the sender passes it on
}

// Handle is the registered function.
func (w *Worker) Handle(ctx context.Context, e cloudevents.Event) error {
	built, err := w.worker()
	if err != nil {
		return err
	}
	var m messagePublished
	if err := json.Unmarshal(e.Data(), &m); err != nil {
		t := tasks.Task{ID: "pubsub:" + e.ID(), Body: e.Data()}
		return built.Runner.DeadLetter(ctx, t, 0, fmt.Errorf("CloudEvent %s data is not a Pub/Sub message: %w", e.Type(), err))
	}
	id := m.Message.MessageID
	if id == "" {
		id = e.ID() // the message id, in both shapes
	}
	return built.Runner.Run(ctx, pubsub.Task(id, m.Message.Data, m.Message.Attributes), m.DeliveryAttempt)
}

// errWorkerMisconfigured fails every event of a misconfigured worker.
var errWorkerMisconfigured = errors.New(WorkerEntryPoint + " misconfigured; see the start-up log")

// worker returns the built app, building it on first use. A failed build
// fails the event, which Pub/Sub redelivers; the next event builds again.
func (w *Worker) worker() (*wire.App, error) {
	if w.cfgErr != nil {
		return nil, errWorkerMisconfigured
	}
	return w.get()
}
