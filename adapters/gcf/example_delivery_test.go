package gcf

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/webhooktest"
	"github.com/geminiwebhooks/receiver/core"
)

// What Register registers as GeminiWebhook, served here by httptest as the
// Functions Framework serves it: a delivery signed as Gemini signs it is
// answered 200 once the user's handler ran; Gemini's retry of it 200
// without running it again; a forged one 401. The deployed function reads
// the same configuration from its environment (here: a signing secret and
// the memory store instead of Firestore).
func ExampleRegister_delivery() {
	secret := webhooktest.NewSecret()
	vars := map[string]string{"WEBHOOK_SIGNING_SECRET": secret, "IDEMPOTENCY_STORE": "memory"}
	mux := core.NewMux().On(core.BatchFailed, func(ctx context.Context, ev *core.Event) error {
		fmt.Println("handler:", ev.Type, ev.JobID())
		return nil
	})
	geminiWebhook := newWebhook(func(k string) string { return vars[k] }, slog.New(slog.DiscardHandler), mux)
	defer geminiWebhook.Close()
	srv := httptest.NewServer(geminiWebhook)
	defer srv.Close()

	ev := webhooktest.BatchFailed("batches/nightly", "INVALID_ARGUMENT", "line 17 is not JSON")
	deliver := func(secret string) {
		h, err := webhooktest.SignStatic(secret, ev.ID, time.Now(), ev.Body)
		if err != nil {
			panic(err)
		}
		req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(string(ev.Body)))
		if err != nil {
			panic(err)
		}
		req.Header = h
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		fmt.Println("answer:", resp.StatusCode)
	}
	deliver(secret)                  // the delivery
	deliver(secret)                  // Gemini's retry of it
	deliver(webhooktest.NewSecret()) // signed with another secret
	// Output:
	// handler: batch.failed batches/nightly
	// answer: 200
	// answer: 200
	// answer: 401
}
