package lambda

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/auth/credentials"
)

const (
	testProvider = "projects/123456789012/locations/global/workloadIdentityPools/aws-pool/providers/aws-lambda"
	testSA       = "gemini-webhooks@my-project.iam.gserviceaccount.com"
)

// The credential configuration is what gcloud writes for an AWS provider,
// without the metadata-server URLs (env.LoadLambda checks the variables'
// forms: TestLoadLambda).
func TestWorkloadIdentityConfig(t *testing.T) {
	tests := []struct{ name, sa string }{
		{"provider and service account", testSA},
		{"provider only (direct resource access)", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := workloadIdentityConfig(testProvider, tc.sa)
			var cfg struct {
				Type, Audience   string
				SubjectTokenType string            `json:"subject_token_type"`
				ImpersonationURL string            `json:"service_account_impersonation_url"`
				CredentialSource map[string]string `json:"credential_source"`
			}
			if err := json.Unmarshal(b, &cfg); err != nil {
				t.Fatal(err)
			}
			if cfg.Type != "external_account" || cfg.Audience != "//iam.googleapis.com/"+testProvider ||
				cfg.SubjectTokenType != "urn:ietf:params:aws:token-type:aws4_request" || cfg.CredentialSource["environment_id"] != "aws1" {
				t.Errorf("config %s", b)
			}
			if _, ok := cfg.CredentialSource["url"]; ok {
				t.Errorf("config points at the metadata server, which Lambda lacks: %s", b)
			}
			if (cfg.ImpersonationURL != "") != (tc.sa != "") || (tc.sa != "" && !strings.Contains(cfg.ImpersonationURL, tc.sa+":generateAccessToken")) {
				t.Errorf("impersonation URL %q for service account %q", cfg.ImpersonationURL, tc.sa)
			}
		})
	}
}

func TestUseWorkloadIdentity(t *testing.T) {
	dir := t.TempDir()
	var set []string
	setCredentials := func(path string) error { set = append(set, path); return nil }
	if err := useWorkloadIdentity(testProvider, testSA, dir, setCredentials); err != nil {
		t.Fatal(err)
	}
	if len(set) != 1 || filepath.Dir(set[0]) != dir {
		t.Fatalf("GOOGLE_APPLICATION_CREDENTIALS set to %q", set)
	}
	info, err := os.Stat(set[0])
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("credential configuration %v, mode %v", err, info.Mode())
	}
	set = nil
	if err := useWorkloadIdentity("", "", dir, setCredentials); err != nil || len(set) != 0 {
		t.Fatalf("without a provider: err %v, set %v", err, set)
	}
}

// TestWorkloadIdentityTokenExchange runs the configuration through the Google
// auth library the Firestore client uses, in a Lambda-like environment: the
// role's credentials and region in AWS_* variables and no metadata server.
// Google's STS and IAM Credentials endpoints cannot run offline, so two local
// stand-ins record what the library sends them; the AWS side is real: the
// library signs a GetCallerIdentity request with the role's credentials.
func TestWorkloadIdentityTokenExchange(t *testing.T) {
	for _, k := range []string{"GOOGLE_CLOUD_PROJECT", "GCE_METADATA_HOST", "AWS_DEFAULT_REGION"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "ASIAEXAMPLEROLEKEY")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "role-secret-key")
	t.Setenv("AWS_SESSION_TOKEN", "role-session-token")
	t.Setenv("AWS_REGION", "eu-west-1")

	var mu sync.Mutex
	var stsForm url.Values
	var impersonation struct {
		path, auth string
		scope      []string
	}
	sts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		mu.Lock()
		stsForm = r.PostForm
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"federated-token","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"Bearer","expires_in":3600}`))
	}))
	defer sts.Close()
	iam := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Scope []string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		impersonation.path, impersonation.auth, impersonation.scope = r.URL.Path, r.Header.Get("Authorization"), body.Scope
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"accessToken":"service-account-token","expireTime":"` + time.Now().Add(time.Hour).UTC().Format(time.RFC3339) + `"}`))
	}))
	defer iam.Close()

	b := workloadIdentityConfig(testProvider, testSA)
	var cfg map[string]any
	_ = json.Unmarshal(b, &cfg)
	cfg["token_url"] = sts.URL + "/v1/token"
	cfg["service_account_impersonation_url"] = strings.Replace(cfg["service_account_impersonation_url"].(string), "https://iamcredentials.googleapis.com", iam.URL, 1)
	b, _ = json.Marshal(cfg)
	path := filepath.Join(t.TempDir(), "wif.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", path)

	// Exactly how the Firestore client finds its credentials.
	creds, err := credentials.DetectDefault(&credentials.DetectOptions{
		Scopes: []string{"https://www.googleapis.com/auth/datastore"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := creds.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Value != "service-account-token" {
		t.Errorf("token %q, want the impersonated one", tok.Value)
	}

	mu.Lock()
	defer mu.Unlock()
	if stsForm.Get("audience") != "//iam.googleapis.com/"+testProvider || stsForm.Get("subject_token_type") != "urn:ietf:params:aws:token-type:aws4_request" {
		t.Errorf("STS exchange: %v", stsForm)
	}
	var subject struct {
		URL     string `json:"url"`
		Method  string `json:"method"`
		Headers []struct{ Key, Value string }
	}
	raw, err := url.QueryUnescape(stsForm.Get("subject_token"))
	if err != nil || json.Unmarshal([]byte(raw), &subject) != nil {
		t.Fatalf("subject token %q: %v", stsForm.Get("subject_token"), err)
	}
	if subject.URL != "https://sts.eu-west-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15" || subject.Method != "POST" {
		t.Errorf("subject token signs %s %s", subject.Method, subject.URL)
	}
	headers := map[string]string{}
	for _, h := range subject.Headers {
		headers[strings.ToLower(h.Key)] = h.Value
	}
	if a := headers["authorization"]; !strings.HasPrefix(a, "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLEROLEKEY/") || !strings.Contains(a, "/eu-west-1/sts/aws4_request") {
		t.Errorf("GetCallerIdentity not signed with the role's credentials: %q", a)
	}
	if headers["x-amz-security-token"] != "role-session-token" {
		t.Errorf("session token header %q", headers["x-amz-security-token"])
	}
	if headers["x-goog-cloud-target-resource"] != "//iam.googleapis.com/"+testProvider {
		t.Errorf("target resource header %q", headers["x-goog-cloud-target-resource"])
	}
	if impersonation.path != "/v1/projects/-/serviceAccounts/"+testSA+":generateAccessToken" || impersonation.auth != "Bearer federated-token" {
		t.Errorf("impersonation call %q with %q", impersonation.path, impersonation.auth)
	}
	if strings.Join(impersonation.scope, " ") != "https://www.googleapis.com/auth/datastore" {
		t.Errorf("impersonation scope %v", impersonation.scope)
	}
}
