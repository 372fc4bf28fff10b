package verify_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/geminiwebhooks/receiver/core/verify"
	"github.com/geminiwebhooks/receiver/scripts/simulator/gemini"
)

// Standard Webhooks' shared test vector: a static delivery checked with a
// fixed clock (the signing time), then the same headers with a changed body
// and six minutes later.
func ExampleVerifier_Verify() {
	at := time.Unix(1614265330, 0)
	v, err := verify.New(context.Background(), verify.Config{
		Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		Now:     func() time.Time { return at },
	})
	if err != nil {
		panic(err)
	}
	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")

	d, err := v.Verify(context.Background(), h, []byte(`{"test": 2432232314}`))
	fmt.Println(d.ID, d.Scheme, d.Timestamp.Unix(), err)

	_, err = v.Verify(context.Background(), h, []byte(`{"test": 2432232315}`))
	fmt.Println(errors.Is(err, verify.ErrBadSignature))

	at = at.Add(6 * time.Minute)
	_, err = v.Verify(context.Background(), h, []byte(`{"test": 2432232314}`))
	fmt.Println(errors.Is(err, verify.ErrOutsideWindow))
	// Output:
	// msg_p5jXN8AQM9LWM0D4loKWxJek static 1614265330 <nil>
	// true
	// true
}

// Verification in your own net/http server: the handler asks for the
// event and answers as it sees fit. The request is what Gemini sends for a
// finished batch, signed with the shared test vector's secret.
func ExampleVerifier_Request() {
	v, err := verify.New(context.Background(), verify.Config{
		Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		Now:     func() time.Time { return time.Unix(1614265330, 0) }, // the request's signing time
	})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /webhook", func(w http.ResponseWriter, r *http.Request) {
		ev, err := v.Request(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		// Deduplicate on ev.Delivery.ID: Gemini delivers at least once.
		fmt.Println(ev.Type, ev.JobID(), ev.Data.OutputFileURI, ev.Delivery.ID)
	})

	body := `{"type":"batch.succeeded","version":"v1","data":{"id":"batches/abc123","output_file_uri":"files/batch-abc123-output"}}`
	req := httptest.NewRequest(http.MethodPost, "/webhook", strings.NewReader(body))
	req.Header.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	req.Header.Set("webhook-timestamp", "1614265330")
	req.Header.Set("webhook-signature", "v1,SrjWH1IoDkYBsYCcw8akZuF5S7cADUsznq/ITlRzMpE=")
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)

	req = httptest.NewRequest(http.MethodPost, "/webhook", strings.NewReader(body)) // unsigned
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	fmt.Print(rec.Code, " ", rec.Body.String())
	// Output:
	// batch.succeeded batches/abc123 files/batch-abc123-output msg_p5jXN8AQM9LWM0D4loKWxJek
	// 401 missing webhook headers
}

// Dynamic (per-job) webhooks: an RS256 token checked against a key set, here
// one served locally in place of Google's. A token that binds its delivery
// (here a webhook_id and a body digest claim) proves the body; one that
// binds nothing proves only that Gemini sent something, so its event comes
// with ErrHint: look the job up with the Gemini API before acting on it.
func ExampleVerifier_Event_dynamic() {
	gem, err := gemini.NewJWTSigner("https://example.com/webhook", "") // Gemini's side
	if err != nil {
		panic(err)
	}
	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(gem.JWKS()) }))
	defer keys.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // ends the key set's refresh
	at := time.Unix(1614265330, 0)
	v, err := verify.New(ctx, verify.Config{
		Audience: "https://example.com/webhook",
		JWKSURL:  keys.URL,
		Now:      func() time.Time { return at },
	})
	if err != nil {
		panic(err)
	}
	body := []byte(`{"type":"batch.succeeded","version":"v1","data":{"id":"batches/abc123","output_file_uri":"files/batch-abc123-output"}}`)

	bound, _ := gem.Sign("msg_1", at, body) // webhook_id and body_sha256 claims
	ev, err := v.Event(ctx, bound, body)
	fmt.Println(ev.Type, ev.Data.OutputFileURI, ev.Delivery.Hint(), err)

	token, _ := gem.Token(map[string]any{"aud": "https://example.com/webhook", "iat": at.Unix(), "exp": at.Add(time.Hour).Unix()})
	bare := http.Header{"Webhook-Signature": {token}}
	ev, err = v.Event(ctx, bare, body)
	fmt.Println(ev.JobID(), ev.Delivery.Hint(), errors.Is(err, verify.ErrHint))
	// Output:
	// batch.succeeded files/batch-abc123-output false <nil>
	// batches/abc123 true true
}
