package lambda

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/geminiwebhooks/receiver/adapters/webhooktest"
	"github.com/geminiwebhooks/receiver/core"
)

// What Start hands the Lambda runtime, shown on one invocation: a Function
// URL delivery signed as Gemini signs it (header names lowercase, as
// Lambda passes them), answered 200 once the user's handler ran, and
// Gemini's retry of it answered 200 without running it again. Start builds
// the same handler from the function's environment (here: a signing secret
// and the memory store instead of Firestore).
func ExampleStart_invocation() {
	secret := webhooktest.NewSecret()
	vars := map[string]string{"WEBHOOK_SIGNING_SECRET": secret, "IDEMPOTENCY_STORE": "memory"}
	mux := core.NewMux().On(core.BatchFailed, func(ctx context.Context, ev *core.Event) error {
		fmt.Println("handler:", ev.Type, ev.JobID())
		return nil
	})
	ctx := context.Background()
	handler, err := setup(ctx, func(k string) string { return vars[k] }, slog.New(slog.DiscardHandler), mux)
	if err != nil {
		panic(err)
	}

	ev := webhooktest.BatchFailed("batches/nightly", "INVALID_ARGUMENT", "line 17 is not JSON")
	signed, err := webhooktest.SignStatic(secret, ev.ID, time.Now(), ev.Body)
	if err != nil {
		panic(err)
	}
	headers := map[string]string{"content-type": "application/json"}
	for name := range signed {
		headers[strings.ToLower(name)] = signed.Get(name)
	}
	invocation, err := json.Marshal(events.LambdaFunctionURLRequest{
		Headers: headers,
		Body:    string(ev.Body),
		RequestContext: events.LambdaFunctionURLRequestContext{
			HTTP: events.LambdaFunctionURLRequestContextHTTPDescription{Method: "POST"},
		},
	})
	if err != nil {
		panic(err)
	}
	for range 2 { // the delivery, then Gemini's retry of it
		out, err := handler.Invoke(ctx, invocation)
		var answer events.LambdaFunctionURLResponse
		if jerr := json.Unmarshal(out, &answer); jerr != nil {
			panic(jerr)
		}
		fmt.Println("answer:", answer.StatusCode, err)
	}
	// Output:
	// handler: batch.failed batches/nightly
	// answer: 200 <nil>
	// answer: 200 <nil>
}
