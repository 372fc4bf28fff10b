package lambda

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// Environment of the Firestore credential path: Workload Identity Federation
// from the Lambda execution role (see deploy/aws/README.md).
const (
	envWIFProvider       = "GCP_WORKLOAD_IDENTITY_PROVIDER" // projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER
	envWIFServiceAccount = "GCP_SERVICE_ACCOUNT"            // optional: impersonate this service account
	envGoogleCredentials = "GOOGLE_APPLICATION_CREDENTIALS"
)

// The forms of the two variables, compiled on first use: most functions
// set neither, and a regexp compiled at init is paid by every cold start.
var (
	providerName = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^projects/[0-9]+/locations/global/workloadIdentityPools/[a-z0-9-]{4,32}/providers/[a-z0-9-]{4,32}$`)
	})
	serviceAccountEmail = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z0-9.-]+\.iam\.gserviceaccount\.com$`)
	})
)

// useWorkloadIdentity writes the external-account credential configuration
// for GCP_WORKLOAD_IDENTITY_PROVIDER to dir and points
// GOOGLE_APPLICATION_CREDENTIALS at it, so every Google client the process
// builds exchanges the execution role's credentials for a Google token. It
// does nothing when the provider is unset (the Firestore emulator, or
// credentials configured another way).
func useWorkloadIdentity(getenv func(string) string, dir string, setenv func(key, value string) error) error {
	provider := strings.TrimSpace(getenv(envWIFProvider))
	if provider == "" {
		return nil
	}
	if getenv(envGoogleCredentials) != "" {
		return fmt.Errorf("set %s or %s, not both", envWIFProvider, envGoogleCredentials)
	}
	b, err := workloadIdentityConfig(provider, strings.TrimSpace(getenv(envWIFServiceAccount)))
	if err != nil {
		return err
	}
	path := filepath.Join(dir, "gcp-workload-identity.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("write credential configuration: %w", err)
	}
	return setenv(envGoogleCredentials, path)
}

// workloadIdentityConfig is what `gcloud iam workload-identity-pools
// create-cred-config PROVIDER --aws [--service-account SA]` writes, minus the
// metadata-server URLs: Lambda has no IMDS, and the Google libraries read the
// role's credentials and region from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN and AWS_REGION, which Lambda sets. The file holds no secret.
func workloadIdentityConfig(provider, serviceAccount string) ([]byte, error) {
	provider = strings.TrimPrefix(provider, "//iam.googleapis.com/")
	if !providerName().MatchString(provider) {
		return nil, fmt.Errorf("%s %q: want projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER", envWIFProvider, provider)
	}
	cfg := map[string]any{
		"type":               "external_account",
		"audience":           "//iam.googleapis.com/" + provider,
		"subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
		"token_url":          "https://sts.googleapis.com/v1/token",
		"credential_source": map[string]string{
			"environment_id":                 "aws1",
			"regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
		},
	}
	if serviceAccount != "" {
		if !serviceAccountEmail().MatchString(serviceAccount) {
			return nil, fmt.Errorf("%s %q: want a service account email (NAME@PROJECT.iam.gserviceaccount.com)", envWIFServiceAccount, serviceAccount)
		}
		cfg["service_account_impersonation_url"] = "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/" + serviceAccount + ":generateAccessToken"
	}
	return json.MarshalIndent(cfg, "", "  ")
}
