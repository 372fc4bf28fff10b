package env_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/geminiwebhooks/receiver/adapters/internal/env"
)

func getenvOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// One precedence for the API key everywhere, the SDK's (genai.NewClient:
// GOOGLE_API_KEY wins), in LoadGemini and in Load; GOOGLE_GEMINI_BASE_URL
// is checked for every runtime, since the key goes out on every call.
func TestLoadGemini(t *testing.T) {
	tests := []struct {
		name      string
		vars      map[string]string
		key, base string
		wantErr   string
	}{
		{"neither", nil, "", "", ""},
		{"GEMINI_API_KEY alone", map[string]string{"GEMINI_API_KEY": " g "}, "g", "", ""},
		{"GOOGLE_API_KEY alone", map[string]string{"GOOGLE_API_KEY": "o"}, "o", "", ""},
		{"both: GOOGLE_API_KEY wins, as in the SDK", map[string]string{"GEMINI_API_KEY": "g", "GOOGLE_API_KEY": "o"}, "o", "", ""},
		{"https base URL", map[string]string{"GOOGLE_GEMINI_BASE_URL": "https://proxy.example.com/"}, "", "https://proxy.example.com/", ""},
		{"http to 127.0.0.1", map[string]string{"GOOGLE_GEMINI_BASE_URL": "http://127.0.0.1:9000"}, "", "http://127.0.0.1:9000", ""},
		{"http to localhost", map[string]string{"GOOGLE_GEMINI_BASE_URL": "http://localhost:9000"}, "", "http://localhost:9000", ""},
		{"http to [::1]", map[string]string{"GOOGLE_GEMINI_BASE_URL": "http://[::1]:9000"}, "", "http://[::1]:9000", ""},
		{"http off the machine", map[string]string{"GOOGLE_GEMINI_BASE_URL": "http://proxy.example.com"}, "", "", "GOOGLE_GEMINI_BASE_URL"},
		{"no host", map[string]string{"GOOGLE_GEMINI_BASE_URL": "https:///v1beta"}, "", "", "GOOGLE_GEMINI_BASE_URL"},
		{"another scheme", map[string]string{"GOOGLE_GEMINI_BASE_URL": "ftp://proxy.example.com"}, "", "", "GOOGLE_GEMINI_BASE_URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := env.LoadGemini(getenvOf(tc.vars))
			vars := map[string]string{"IDEMPOTENCY_STORE": "memory"}
			for k, v := range tc.vars {
				vars[k] = v
			}
			cfg, loadErr := env.Load(getenvOf(vars), env.Serverless)
			if tc.wantErr != "" {
				for _, e := range []error{err, loadErr} {
					if e == nil || !strings.Contains(e.Error(), tc.wantErr) {
						t.Errorf("err = %v, want one naming %s", e, tc.wantErr)
					}
				}
				return
			}
			if err != nil || loadErr != nil {
				t.Fatalf("LoadGemini: %v; Load: %v", err, loadErr)
			}
			if g.APIKey != tc.key || g.BaseURL != tc.base || cfg.GeminiAPIKey != tc.key || cfg.GeminiBaseURL != tc.base {
				t.Errorf("LoadGemini %q %q, Load %q %q; want %q %q", g.APIKey, g.BaseURL, cfg.GeminiAPIKey, cfg.GeminiBaseURL, tc.key, tc.base)
			}
		})
	}
}

// The emulator and endpoint switches that the clients of gcs, pubsub and
// aws used to read for themselves: read and checked by Load, each error
// naming its variable.
func TestLoadEndpoints(t *testing.T) {
	tests := []struct {
		name, variable, value string
		ok                    bool
	}{
		{"pubsub emulator", "PUBSUB_EMULATOR_HOST", "127.0.0.1:8085", true},
		{"pubsub emulator without a port", "PUBSUB_EMULATOR_HOST", "127.0.0.1", false},
		{"pubsub emulator as a URL", "PUBSUB_EMULATOR_HOST", "http://127.0.0.1:8085", false},
		{"storage emulator host:port", "STORAGE_EMULATOR_HOST", "127.0.0.1:9023", true},
		{"storage emulator URL", "STORAGE_EMULATOR_HOST", "http://127.0.0.1:9023", true},
		{"storage emulator, another scheme", "STORAGE_EMULATOR_HOST", "ftp://127.0.0.1:9023", false},
		{"storage emulator without a port", "STORAGE_EMULATOR_HOST", "gcs", false},
		{"S3 endpoint", "AWS_ENDPOINT_URL_S3", "http://127.0.0.1:5000", true},
		{"S3 endpoint without a scheme", "AWS_ENDPOINT_URL_S3", "127.0.0.1:5000", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := env.Load(getenvOf(map[string]string{tc.variable: tc.value, "IDEMPOTENCY_STORE": "memory"}), env.Serverless)
			if !tc.ok {
				if err == nil || !strings.Contains(err.Error(), tc.variable) {
					t.Fatalf("err = %v, want one naming %s", err, tc.variable)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{"PUBSUB_EMULATOR_HOST": cfg.PubSubEmulatorHost, "STORAGE_EMULATOR_HOST": cfg.StorageEmulatorHost, "AWS_ENDPOINT_URL_S3": cfg.S3EndpointURL}
			if got[tc.variable] != tc.value {
				t.Errorf("%s read as %q", tc.variable, got[tc.variable])
			}
		})
	}
	cfg, _ := env.Load(getenvOf(map[string]string{"FUNCTION_TARGET": "GeminiWorker"}), env.Serverless)
	if cfg.FunctionTarget != "GeminiWorker" {
		t.Errorf("FUNCTION_TARGET read as %q", cfg.FunctionTarget)
	}
}

// The admin CLI's own variables.
func TestLoadAdmin(t *testing.T) {
	tests := []struct {
		name    string
		vars    map[string]string
		want    env.Admin
		wantErr string
	}{
		{"nothing", nil, env.Admin{}, ""},
		{"reconcile", map[string]string{"RECONCILE_URL": " https://r.example.com/ ", "RECONCILE_ID_TOKEN": "tok"}, env.Admin{ReconcileURL: "https://r.example.com/", ReconcileIDToken: "tok"}, ""},
		{"reconcile URL not a URL", map[string]string{"RECONCILE_URL": "r.example.com"}, env.Admin{}, "RECONCILE_URL"},
		{"AWS_REGION", map[string]string{"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-1"}, env.Admin{AWSRegion: "eu-west-1"}, ""},
		{"AWS_DEFAULT_REGION", map[string]string{"AWS_DEFAULT_REGION": "us-east-1"}, env.Admin{AWSRegion: "us-east-1"}, ""},
		{"stand-ins on loopback", map[string]string{"SECRETMANAGER_EMULATOR_HOST": "127.0.0.1:1", "MONITORING_EMULATOR_HOST": "localhost:2"},
			env.Admin{SecretManagerEmulatorHost: "127.0.0.1:1", MonitoringEmulatorHost: "localhost:2"}, ""},
		{"secret manager stand-in off the machine", map[string]string{"SECRETMANAGER_EMULATOR_HOST": "secretmanager.example.com:443"}, env.Admin{}, "SECRETMANAGER_EMULATOR_HOST"},
		{"monitoring stand-in without a port", map[string]string{"MONITORING_EMULATOR_HOST": "127.0.0.1"}, env.Admin{}, "MONITORING_EMULATOR_HOST"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := env.LoadAdmin(getenvOf(tc.vars))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil || a != tc.want {
				t.Fatalf("%+v, %v; want %+v", a, err, tc.want)
			}
		})
	}
}

const (
	provider = "projects/123456789012/locations/global/workloadIdentityPools/aws-pool/providers/aws-lambda"
	sa       = "gemini-webhooks@my-project.iam.gserviceaccount.com"
	secret   = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

// The Lambda's secrets by ARN and its Workload Identity variables. The
// secrets are read by a stand-in of Secrets Manager here (the parsing and
// the rules are env's); adapters/lambda reads real ones from moto_server.
func TestLoadLambda(t *testing.T) {
	secrets := map[string]string{
		"arn:signing":       secret + "\n",
		"arn:signing-json":  `{"WEBHOOK_SIGNING_SECRET":"` + secret + `"}`,
		"arn:other-json":    `{"other":"` + secret + `"}`,
		"arn:broken-json":   `{"WEBHOOK_SIGNING_SECRET":"` + secret,
		"arn:key":           "AIzaSy-key",
		"arn:key-json":      `{"GEMINI_API_KEY":"AIzaSy-json"}`,
		"arn:key-wrong-key": `{"GOOGLE_API_KEY":"AIzaSy-json"}`,
		"arn:empty":         " ",
	}
	fetch := func(_ context.Context, id string) (string, error) {
		v, ok := secrets[id]
		if !ok {
			return "", errors.New("ResourceNotFoundException")
		}
		return v, nil
	}
	base := map[string]string{"IDEMPOTENCY_STORE": "memory"}
	tests := []struct {
		name     string
		vars     map[string]string
		secrets  int
		key      string
		provider string
		sa       string
		wantErr  string
	}{
		{name: "no ARN: the environment as is", vars: map[string]string{"WEBHOOK_SIGNING_SECRET": secret, "GEMINI_API_KEY": "k"}, secrets: 1, key: "k"},
		{name: "signing secret by ARN", vars: map[string]string{"WEBHOOK_SIGNING_SECRET_ARN": "arn:signing"}, secrets: 1},
		{name: "signing secret as console JSON", vars: map[string]string{"WEBHOOK_SIGNING_SECRET_ARN": "arn:signing-json"}, secrets: 1},
		{name: "JSON without the key", vars: map[string]string{"WEBHOOK_SIGNING_SECRET_ARN": "arn:other-json"}, wantErr: `WEBHOOK_SIGNING_SECRET_ARN arn:other-json: the secret holds no signing secret (JSON value has no string key "WEBHOOK_SIGNING_SECRET")`},
		{name: "broken JSON", vars: map[string]string{"WEBHOOK_SIGNING_SECRET_ARN": "arn:broken-json"}, wantErr: "WEBHOOK_SIGNING_SECRET_ARN arn:broken-json: value looks like JSON but is not a valid object"},
		{name: "empty secret", vars: map[string]string{"WEBHOOK_SIGNING_SECRET_ARN": "arn:empty"}, wantErr: "WEBHOOK_SIGNING_SECRET_ARN arn:empty: the secret holds no signing secret"},
		{name: "unreadable secret", vars: map[string]string{"WEBHOOK_SIGNING_SECRET_ARN": "arn:nope"}, wantErr: "WEBHOOK_SIGNING_SECRET_ARN: ResourceNotFoundException"},
		{name: "signing secret twice", vars: map[string]string{"WEBHOOK_SIGNING_SECRET_ARN": "arn:signing", "WEBHOOK_SIGNING_SECRET": secret}, wantErr: "set WEBHOOK_SIGNING_SECRET or WEBHOOK_SIGNING_SECRET_ARN, not both"},
		{name: "API key by ARN", vars: map[string]string{"GEMINI_API_KEY_ARN": "arn:key"}, key: "AIzaSy-key"},
		{name: "API key as console JSON", vars: map[string]string{"GEMINI_API_KEY_ARN": "arn:key-json"}, key: "AIzaSy-json"},
		{name: "API key JSON under another name", vars: map[string]string{"GEMINI_API_KEY_ARN": "arn:key-wrong-key"}, wantErr: "the secret holds no API key"},
		{name: "API key twice", vars: map[string]string{"GEMINI_API_KEY_ARN": "arn:key", "GEMINI_API_KEY": "k"}, wantErr: "not both"},
		{name: "API key twice, by its other name", vars: map[string]string{"GEMINI_API_KEY_ARN": "arn:key", "GOOGLE_API_KEY": "k"}, wantErr: "not both"},
		{name: "workload identity", vars: map[string]string{"GCP_WORKLOAD_IDENTITY_PROVIDER": provider, "GCP_SERVICE_ACCOUNT": sa}, provider: provider, sa: sa},
		{name: "workload identity, full resource name", vars: map[string]string{"GCP_WORKLOAD_IDENTITY_PROVIDER": "//iam.googleapis.com/" + provider}, provider: provider},
		{name: "provider by project id", vars: map[string]string{"GCP_WORKLOAD_IDENTITY_PROVIDER": "projects/my-project/locations/global/workloadIdentityPools/aws-pool/providers/aws-lambda"}, wantErr: "GCP_WORKLOAD_IDENTITY_PROVIDER"},
		{name: "regional provider", vars: map[string]string{"GCP_WORKLOAD_IDENTITY_PROVIDER": "projects/1/locations/us-east1/workloadIdentityPools/aws-pool/providers/aws-lambda"}, wantErr: "GCP_WORKLOAD_IDENTITY_PROVIDER"},
		{name: "pool, no provider", vars: map[string]string{"GCP_WORKLOAD_IDENTITY_PROVIDER": "projects/1/locations/global/workloadIdentityPools/aws-pool"}, wantErr: "GCP_WORKLOAD_IDENTITY_PROVIDER"},
		{name: "not a service account", vars: map[string]string{"GCP_WORKLOAD_IDENTITY_PROVIDER": provider, "GCP_SERVICE_ACCOUNT": "someone@example.com"}, wantErr: "GCP_SERVICE_ACCOUNT"},
		{name: "service account without a provider", vars: map[string]string{"GCP_SERVICE_ACCOUNT": sa}, wantErr: "GCP_SERVICE_ACCOUNT is set without GCP_WORKLOAD_IDENTITY_PROVIDER"},
		{name: "provider and a credentials file", vars: map[string]string{"GCP_WORKLOAD_IDENTITY_PROVIDER": provider, "GOOGLE_APPLICATION_CREDENTIALS": "/var/task/key.json"}, wantErr: "set GCP_WORKLOAD_IDENTITY_PROVIDER or GOOGLE_APPLICATION_CREDENTIALS, not both"},
		{name: "a bad variable of Load", vars: map[string]string{"IDEMPOTENCY_STORE": "dynamo"}, wantErr: "IDEMPOTENCY_STORE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vars := map[string]string{}
			for _, m := range []map[string]string{base, tc.vars} {
				for k, v := range m {
					vars[k] = v
				}
			}
			l, err := env.LoadLambda(context.Background(), getenvOf(vars), fetch)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				for _, v := range []string{strings.TrimPrefix(secret, "whsec_"), "AIzaSy"} {
					if strings.Contains(err.Error(), v) {
						t.Fatalf("the error quotes a secret: %v", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(l.SigningSecrets) != tc.secrets || l.GeminiAPIKey != tc.key || l.WorkloadIdentityProvider != tc.provider || l.WorkloadIdentityServiceAccount != tc.sa || l.IdempotencyStore != "memory" {
				t.Errorf("%d secrets, key %q, provider %q, service account %q, store %q", len(l.SigningSecrets), l.GeminiAPIKey, l.WorkloadIdentityProvider, l.WorkloadIdentityServiceAccount, l.IdempotencyStore)
			}
		})
	}
	t.Run("no ARN, no fetch", func(t *testing.T) {
		called := false
		_, err := env.LoadLambda(context.Background(), getenvOf(base), func(context.Context, string) (string, error) { called = true; return "", nil })
		if err != nil || called {
			t.Fatalf("err %v, fetched %v", err, called)
		}
	})
}

// The two writes to the environment, and Getenv reading it.
func TestSetters(t *testing.T) {
	t.Setenv("FUNCTION_TARGET", "")
	if got, err := env.SetFunctionTarget("GeminiWebhook"); err != nil || got != "GeminiWebhook" || os.Getenv("FUNCTION_TARGET") != "GeminiWebhook" {
		t.Fatalf("unset: %q, %v; FUNCTION_TARGET=%q", got, err, os.Getenv("FUNCTION_TARGET"))
	}
	t.Setenv("FUNCTION_TARGET", "GeminiWorker")
	if got, err := env.SetFunctionTarget("GeminiWebhook"); err != nil || got != "GeminiWorker" || env.Getenv("FUNCTION_TARGET") != "GeminiWorker" {
		t.Fatalf("set: %q, %v", got, err)
	}
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "")
	if err := env.SetGoogleCredentials("/tmp/wif.json"); err != nil || os.Getenv("GOOGLE_APPLICATION_CREDENTIALS") != "/tmp/wif.json" {
		t.Fatalf("%v, %q", err, os.Getenv("GOOGLE_APPLICATION_CREDENTIALS"))
	}
}
