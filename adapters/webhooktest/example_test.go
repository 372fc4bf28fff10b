package webhooktest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/webhooktest"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

// A handler on batch.succeeded reads what landed; the kit delivers a
// signed event through the whole receiver and shows what ran and what
// landed. In a test, webhooktest.New(t, mux) does what Start and Close do.
func ExampleStart() {
	mux := core.NewMux().On(core.BatchSucceeded, func(ctx context.Context, ev *core.Event) error {
		l, err := jobs.Landed(ctx)
		if err != nil {
			return err
		}
		fmt.Println("handler: results landed,", l.Manifest.Lines, "lines")
		return nil
	})
	k, err := webhooktest.Start(mux)
	if err != nil {
		panic(err)
	}
	defer k.Close()

	ev := webhooktest.BatchSucceeded("batches/nightly-eval")
	res := k.Deliver(ev)
	fmt.Println(res.Status, res.Outcome, "ran:", res.Ran, "error:", res.Err)
	l, err := k.Landed(ev.JobID)
	fmt.Println("landed:", l.Bytes, "bytes,", l.FailedLines, "failed lines", err)

	dup := k.Deliver(ev) // Gemini's retry of the same delivery
	fmt.Println(dup.Status, dup.Outcome, "ran:", dup.Ran)
	// Output:
	// handler: results landed, 15 lines
	// 200 processed ran: true error: <nil>
	// landed: 32768 bytes, 2 failed lines <nil>
	// 200 duplicate ran: false
}

// The builders make the events of Gemini's catalogue with the fields its
// guide lists; "" makes a fresh resource name.
func ExampleBatchFailed() {
	ev := webhooktest.BatchFailed("batches/abc123", "INVALID_ARGUMENT", "line 17 is not JSON")
	var env struct {
		Type, Version string
		Data          map[string]any
	}
	if err := json.Unmarshal(ev.Body, &env); err != nil {
		panic(err)
	}
	fmt.Println(ev.Type, ev.JobID, env.Version)
	fmt.Println(env.Data["error_code"], "/", env.Data["error_message"])
	// Output:
	// batch.failed batches/abc123 v1
	// INVALID_ARGUMENT / line 17 is not JSON
}

// A static delivery's headers, per Standard Webhooks (its shared test vector).
func ExampleSignStatic() {
	h, err := webhooktest.SignStatic("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
		time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil {
		panic(err)
	}
	fmt.Println(h.Get("webhook-id"), h.Get("webhook-timestamp"))
	fmt.Println(h.Get("webhook-signature"))
	// Output:
	// msg_p5jXN8AQM9LWM0D4loKWxJek 1614265330
	// v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
}

// A dynamic delivery: the kit's JWTSigner holds its own RSA key and serves
// the key set on loopback; the receiver fetches it from WEBHOOK_JWKS_URL.
func ExampleKit_DeliverWith() {
	k, err := webhooktest.Start(nil, webhooktest.Dynamic("https://hooks.example.com/gemini"))
	if err != nil {
		panic(err)
	}
	defer k.Close()
	ev := webhooktest.InteractionCompleted("").WithUserMetadata(map[string]any{"ticket": "T-42"})
	res := k.DeliverWith(k.JWT, ev)
	j, _ := k.Job(ev.JobID)
	fmt.Println(res.Status, res.Outcome, j.State, j.UserMetadata["ticket"])

	forged := k.DeliverWith(webhooktest.Static(webhooktest.NewSecret()), webhooktest.BatchSucceeded(""))
	fmt.Println(forged.Status, forged.Outcome)
	// Output:
	// 200 processed succeeded T-42
	// 401 rejected
}
