package gemini_test

import (
	"strings"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/scripts/simulator/gemini"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The shared test vector of the Standard Webhooks specification.
func TestStaticSignatureSharedVector(t *testing.T) {
	sig, err := gemini.StaticSignature("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
		time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; sig != want {
		t.Fatalf("signature %q, want %q", sig, want)
	}
}

const (
	secretA = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	secretB = "whsec_dGhpcyBpcyBhIDMyIGJ5dGUgc2VjcmV0IGtleSEhIQ=="
)

// The reference Go library accepts what SignStatic sends, including each
// entry of a rotation's two signatures, and refuses an altered body.
func TestSignStaticVerifiedByReferenceLibrary(t *testing.T) {
	body := gemini.Payload("batch.succeeded")
	id := gemini.NewID()
	h, err := gemini.SignStatic(secretA+", "+secretB, id, time.Now(), body)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(strings.Fields(h.Get(gemini.HeaderSignature))); got != 2 {
		t.Fatalf("%d signature entries for two secrets, want 2", got)
	}
	if h.Get(gemini.HeaderID) != id {
		t.Fatalf("webhook-id %q, want %q", h.Get(gemini.HeaderID), id)
	}
	for _, secret := range []string{secretA, secretB} {
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(body, h); err != nil {
			t.Errorf("reference library rejects our signature: %v", err)
		}
		if err := wh.Verify(gemini.TamperBody(body), h); err == nil {
			t.Error("reference library accepts a tampered body")
		}
	}
}

func TestSignStaticBadSecret(t *testing.T) {
	for _, secret := range []string{"", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_", "whsec_not*base64!", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS"} {
		_, err := gemini.SignStatic(secret, "msg_1", time.Now(), nil)
		if err == nil {
			t.Errorf("secret %q accepted", secret)
			continue
		}
		if len(secret) > len("whsec_") && strings.Contains(err.Error(), strings.TrimPrefix(secret, "whsec_")) {
			t.Errorf("error %q prints the secret", err)
		}
	}
}

func TestTamperBody(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"type":"x","data":{"id":"a"}}`, `{"type":"x","data":{"tampered":true,"id":"a"}}`},
		{`{"type":"x","data":{}}`, `{"type":"x","data":{"tampered":true}}`},
		{`not json`, `not json `},
	} {
		if got := string(gemini.TamperBody([]byte(tc.in))); got != tc.want {
			t.Errorf("TamperBody(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
