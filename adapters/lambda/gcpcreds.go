package lambda

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// useWorkloadIdentity writes the external-account credential configuration
// for provider (GCP_WORKLOAD_IDENTITY_PROVIDER, checked by env.LoadLambda)
// to dir and points GOOGLE_APPLICATION_CREDENTIALS at it
// (env.SetGoogleCredentials), so every Google client the process
// builds exchanges the execution role's credentials for a Google token. It
// does nothing when the provider is unset (the Firestore emulator, or
// credentials configured another way).
func useWorkloadIdentity(provider, serviceAccount, dir string, setCredentials func(path string) error) error {
	if provider == "" {
		return nil
	}
	path := filepath.Join(dir, "gcp-workload-identity.json")
	if err := os.WriteFile(path, workloadIdentityConfig(provider, serviceAccount), 0o600); err != nil {
		return fmt.Errorf("write credential configuration: %w", err)
	}
	return setCredentials(path)
}

// workloadIdentityConfig is what `gcloud iam workload-identity-pools
// create-cred-config PROVIDER --aws [--service-account SA]` writes, minus the
// metadata-server URLs: Lambda has no IMDS, and the Google libraries read the
// role's credentials and region from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN and AWS_REGION, which Lambda sets. The file holds no secret.
func workloadIdentityConfig(provider, serviceAccount string) []byte {
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
		cfg["service_account_impersonation_url"] = "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/" + serviceAccount + ":generateAccessToken"
	}
	b, _ := json.MarshalIndent(cfg, "", "  ") // strings only: cannot fail
	return b
}
