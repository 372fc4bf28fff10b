package lambda

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/geminiwebhooks/receiver/adapters/internal/env"
	"github.com/geminiwebhooks/receiver/core"
)

// TestSigningSecretFromSecretsManager reads real secrets from moto_server
// through the same SDK path as in Lambda (AWS_ENDPOINT_URL honoured).
// Two valid secrets: the current one and the one a rotation retires.
const (
	secretNew = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	secretOld = "whsec_QkVkcmFuZC1uZXctc2VjcmV0LWZvci10ZXN0cw=="
)

func TestSigningSecretFromSecretsManager(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL", motoURL)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")

	const badSecret = "whsec_c2hvcnQ=" // decodes to 5 bytes: rejected by core
	binary, err := motoSecrets().CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String("binary-" + t.Name()), SecretBinary: []byte{1, 2, 3},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		value   string // stored in moto; "" uses id as is
		id      string
		env     string // WEBHOOK_SIGNING_SECRET alongside
		want    []string
		wantErr string
	}{
		{name: "list during a rotation", value: secretNew + ", " + secretOld, want: []string{secretNew, secretOld}},
		{name: "one secret with a trailing newline", value: secretNew + "\n", want: []string{secretNew}},
		{name: "console key/value JSON", value: `{"WEBHOOK_SIGNING_SECRET":"` + secretNew + " " + secretOld + `"}`, want: []string{secretNew, secretOld}},
		{name: "JSON without the key", value: `{"other":"` + secretNew + `"}`, wantErr: `no string key "WEBHOOK_SIGNING_SECRET"`},
		{name: "broken JSON", value: `{"WEBHOOK_SIGNING_SECRET":"` + secretNew, wantErr: "not a valid object"},
		{name: "invalid secret", value: secretNew + "," + badSecret, wantErr: "signing secret 2 of 2"},
		{name: "unknown secret", id: "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf", wantErr: "ResourceNotFoundException"},
		{name: "binary secret", id: *binary.ARN, wantErr: "no string value"},
		{name: "both variables set", value: secretNew, env: secretOld, wantErr: "not both"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := tc.id
			if id == "" {
				id = putSecret(t, "signing", tc.value)
			}
			vars := map[string]string{envSigningSecretARN: id, envSigningSecret: tc.env, "IDEMPOTENCY_STORE": "memory"}
			getenv, err := withSigningSecret(context.Background(), func(k string) string { return vars[k] }, fetchSecretString)
			var cfg env.Config
			if err == nil {
				cfg, err = env.Load(getenv, env.Serverless)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				for _, s := range []string{secretNew, secretOld, badSecret, strings.TrimPrefix(secretNew, "whsec_"), "c2hvcnQ"} {
					if strings.Contains(err.Error(), s) {
						t.Fatalf("error quotes a secret: %v", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(cfg.SigningSecrets, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("secrets %d, want %d", len(cfg.SigningSecrets), len(tc.want))
			}
			if getenv(envSigningSecretARN) != id || getenv("IDEMPOTENCY_STORE") != "memory" {
				t.Fatal("other variables not passed through")
			}
		})
	}

	t.Run("without an ARN the environment is used as is", func(t *testing.T) {
		called := false
		vars := map[string]string{envSigningSecret: secretNew}
		getenv, err := withSigningSecret(context.Background(), func(k string) string { return vars[k] },
			func(context.Context, string) (string, error) { called = true; return "", errors.New("unexpected") })
		if err != nil || called || getenv(envSigningSecret) != secretNew {
			t.Fatalf("err %v, fetched %v, secret passed through %v", err, called, getenv(envSigningSecret) == secretNew)
		}
	})
}

func TestSetup(t *testing.T) {
	quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))
	tests := []struct {
		name     string
		env      map[string]string
		wantErr  string
		receiver bool // HTTP deliveries are verified (else answered 500)
	}{
		{"memory store, secret in the environment", map[string]string{"IDEMPOTENCY_STORE": "memory", envSigningSecret: secretNew}, "", true},
		{"no scheme configured: a worker", map[string]string{"IDEMPOTENCY_STORE": "memory"}, "", false},
		{"queued receiver", map[string]string{"IDEMPOTENCY_STORE": "memory", envSigningSecret: secretNew, "QUEUE": "sqs:https://sqs.us-east-1.amazonaws.com/123456789012/q"}, "", true},
		{"bad queue URL", map[string]string{"IDEMPOTENCY_STORE": "memory", envSigningSecret: secretNew, "QUEUE": "sqs:q"}, "queue URL", false},
		{"bad store name", map[string]string{"IDEMPOTENCY_STORE": "dynamo", envSigningSecret: secretNew}, "IDEMPOTENCY_STORE", false},
		{"bad workload identity provider", map[string]string{"IDEMPOTENCY_STORE": "memory", envSigningSecret: secretNew, envWIFProvider: "pools/x"}, envWIFProvider, false},
		{"API key twice", map[string]string{"IDEMPOTENCY_STORE": "memory", envGeminiAPIKey: "k", envGeminiAPIKeyARN: "arn:x"}, "not both", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := setup(context.Background(), func(k string) string { return tc.env[k] }, quiet, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || inv == nil || inv.HTTP == nil || inv.SQS == nil {
				t.Fatalf("setup: %v (%+v)", err, inv)
			}
			resp := inv.HTTP.Handle(context.Background(), core.Request{Method: "POST", Header: http.Header{}, Body: strings.NewReader("{}")})
			if tc.receiver && resp.Status != http.StatusBadRequest {
				t.Errorf("an unsigned delivery: %d, want 400 from the receiver", resp.Status)
			}
			if !tc.receiver && (resp.Status != http.StatusInternalServerError || !strings.Contains(resp.Reason, "no signature scheme configured")) {
				t.Errorf("a delivery to a worker-only function: %d %q, want 500 naming the missing scheme", resp.Status, resp.Reason)
			}
		})
	}
}

// The worker's Gemini API key comes from Secrets Manager when
// GEMINI_API_KEY_ARN names it (moto_server here).
func TestGeminiAPIKeyFromSecretsManager(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL", motoURL)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	for _, tc := range []struct{ name, value, want, wantErr string }{
		{"plain", "AIzaSy-test-key\n", "AIzaSy-test-key", ""},
		{"console key/value JSON", `{"GEMINI_API_KEY":"AIzaSy-json"}`, "AIzaSy-json", ""},
		{"JSON without the key", `{"other":"AIzaSy-x"}`, "", "holds no API key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars := map[string]string{envGeminiAPIKeyARN: putSecret(t, "gemini-key", tc.value), "IDEMPOTENCY_STORE": "memory"}
			getenv, err := withGeminiAPIKey(context.Background(), func(k string) string { return vars[k] }, fetchSecretString)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "AIzaSy") {
					t.Fatalf("err = %v, want one containing %q and no key", err, tc.wantErr)
				}
				return
			}
			if err != nil || getenv(envGeminiAPIKey) != tc.want || getenv("IDEMPOTENCY_STORE") != "memory" {
				t.Fatalf("err %v, key %q, want %q", err, getenv(envGeminiAPIKey), tc.want)
			}
		})
	}
}
