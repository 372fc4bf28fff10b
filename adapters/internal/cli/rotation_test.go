package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/geminiwebhooks/receiver/adapters/internal/env"
	"github.com/geminiwebhooks/receiver/adapters/internal/wire"
)

var deliverySeq atomic.Int64

// receiverFrom builds the receiver the way a deployment does: the stored
// value becomes WEBHOOK_SIGNING_SECRET and goes through the shared config
// contract and wiring.
func receiverFrom(t *testing.T, stored string) http.Handler {
	t.Helper()
	vars := map[string]string{"WEBHOOK_SIGNING_SECRET": stored, "IDEMPOTENCY_STORE": "memory"}
	cfg, err := env.Load(func(k string) string { return vars[k] }, env.Memory)
	if err != nil {
		t.Fatalf("the stored value is not a valid WEBHOOK_SIGNING_SECRET: %v", err)
	}
	app, err := wire.Build(context.Background(), cfg, nil, wire.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	return app.Receiver
}

// deliver sends one fresh delivery signed, as Gemini signs, with secret and
// returns the receiver's status.
func deliver(t *testing.T, h http.Handler, secret string) int {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("msg_rotation_%d", deliverySeq.Add(1))
	now := time.Now()
	body := []byte(fmt.Sprintf(`{"type":"batch.succeeded","version":"v1","timestamp":%q,"data":{"id":"batches/%s","output_file_uri":"files/out"}}`,
		now.UTC().Format(time.RFC3339), id))
	sig, err := wh.Sign(id, now, body)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

// TestRotationKeepsEveryDeliveryAccepted walks the documented procedure:
// create, rotate --append (receivers redeployed with "new,old"), wait out
// the overlap, finish-rotation (receivers redeployed with "new").
func TestRotationKeepsEveryDeliveryAccepted(t *testing.T) {
	svc := newWebhookService(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "signing-secret")
	out := "file:" + path

	mustOK(t, runCLI(t, svc.env(), "create", "--uri", "https://r.example.com/h", "--events", "batch.succeeded", "--secret-out", out))
	id := svc.onlyID()
	oldSecret := svc.secrets(id)[0]
	stranger := newSecret(t)

	before := receiverFrom(t, readSecretFile(t, path))
	if got := deliver(t, before, oldSecret); got != http.StatusOK {
		t.Fatalf("before rotation, a delivery signed with the secret: %d", got)
	}

	r := mustOK(t, runCLI(t, svc.env(), "rotate", "--id", id, "--revoke", "after-24h", "--append", "--secret-out", out))
	newSecretValue := svc.secrets(id)[0]
	assertNoLeak(t, newSecretValue, r.stdout, r.stderr)
	assertNoLeak(t, oldSecret, r.stdout, r.stderr)
	stored := readSecretFile(t, path)
	if stored != newSecretValue+","+oldSecret {
		t.Fatal(`after rotate --append the file must hold "new,old"`)
	}

	during := receiverFrom(t, stored)
	for _, c := range []struct {
		name   string
		secret string
		want   int
	}{
		{"previous secret", oldSecret, http.StatusOK},
		{"new secret", newSecretValue, http.StatusOK},
		{"unrelated secret", stranger, http.StatusUnauthorized},
	} {
		if got := deliver(t, during, c.secret); got != c.want {
			t.Errorf("during the overlap, signed with the %s: %d, want %d", c.name, got, c.want)
		}
	}

	// Finishing early is refused while Gemini still honours the previous secret.
	r = runCLI(t, svc.env(), "finish-rotation", "--id", id, "--secret-out", out)
	if r.code != exitFailure || !strings.Contains(r.stderr, "2 valid signing secrets") {
		t.Fatalf("finish-rotation inside the overlap: %s", r)
	}
	if readSecretFile(t, path) != stored {
		t.Fatal("a refused finish-rotation changed the stored value")
	}

	svc.expirePrevious(id) // 24 hours later
	r = mustOK(t, runCLI(t, svc.env(), "finish-rotation", "--id", id, "--secret-out", out))
	assertNoLeak(t, newSecretValue, r.stdout, r.stderr)
	if got := readSecretFile(t, path); got != newSecretValue {
		t.Fatal("after finish-rotation the file must hold only the new secret")
	}
	if got := dirEntries(t, dir); len(got) != 1 {
		t.Fatalf("folder holds %v", got)
	}

	after := receiverFrom(t, readSecretFile(t, path))
	if got := deliver(t, after, newSecretValue); got != http.StatusOK {
		t.Errorf("after the rotation, signed with the new secret: %d, want 200", got)
	}
	if got := deliver(t, after, oldSecret); got != http.StatusUnauthorized {
		t.Errorf("after the rotation, signed with the previous secret: %d, want 401", got)
	}

	// Running it again is harmless.
	r = mustOK(t, runCLI(t, svc.env(), "finish-rotation", "--secret-out", out))
	if !strings.Contains(r.stdout, "nothing to do") || readSecretFile(t, path) != newSecretValue {
		t.Fatalf("second finish-rotation: %s", r)
	}
}
