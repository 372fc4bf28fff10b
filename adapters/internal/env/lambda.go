package env

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// The Lambda's own variables.
const (
	envSigningSecret     = "WEBHOOK_SIGNING_SECRET"
	envSigningSecretARN  = "WEBHOOK_SIGNING_SECRET_ARN"
	envGeminiAPIKey      = "GEMINI_API_KEY"
	envGoogleAPIKey      = "GOOGLE_API_KEY"
	envGeminiAPIKeyARN   = "GEMINI_API_KEY_ARN"
	envWIFProvider       = "GCP_WORKLOAD_IDENTITY_PROVIDER" // projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER
	envWIFServiceAccount = "GCP_SERVICE_ACCOUNT"            // optional: impersonate this service account
)

// Lambda is an AWS Lambda function's configuration: Config (Cloud
// defaults) with the secrets the *_ARN variables name already read, and
// the Workload Identity Federation to Firestore.
type Lambda struct {
	Config
	// WorkloadIdentityProvider is GCP_WORKLOAD_IDENTITY_PROVIDER, without
	// the //iam.googleapis.com/ prefix: projects/NUMBER/locations/global/
	// workloadIdentityPools/POOL/providers/PROVIDER. Empty: credentials
	// come another way (the emulator, GOOGLE_APPLICATION_CREDENTIALS).
	WorkloadIdentityProvider string
	// WorkloadIdentityServiceAccount is GCP_SERVICE_ACCOUNT: the service
	// account the federated identity impersonates (empty: none).
	WorkloadIdentityServiceAccount string
}

// FetchSecret reads the string value of the Secrets Manager secret id (an
// ARN or a name); the Lambda adapter's reads it from Secrets Manager.
type FetchSecret func(ctx context.Context, id string) (string, error)

// LoadLambda is Load for a Lambda. WEBHOOK_SIGNING_SECRET_ARN and
// GEMINI_API_KEY_ARN name Secrets Manager secrets that fetch reads once,
// here, instead of WEBHOOK_SIGNING_SECRET and the API key (no value in the
// function's configuration, a new one needs no deploy); each pair is one
// or the other, never both. The signing secret's value is the list
// WEBHOOK_SIGNING_SECRET takes ("whsec_new,whsec_old" during a rotation)
// and the API key's the key, or either as a JSON object holding it under
// the plain variable's name (the console's key/value form). Errors name
// the variable and the secret's id, never a value.
func LoadLambda(ctx context.Context, getenv func(string) string, fetch FetchSecret) (Lambda, error) {
	var errs []error
	set := map[string]string{}
	if id := strings.TrimSpace(getenv(envSigningSecretARN)); id != "" {
		if strings.TrimSpace(getenv(envSigningSecret)) != "" {
			errs = append(errs, fmt.Errorf("set %s or %s, not both", envSigningSecret, envSigningSecretARN))
		} else if v, err := fetchValue(ctx, fetch, envSigningSecretARN, id, envSigningSecret, "no signing secret"); err != nil {
			errs = append(errs, err)
		} else {
			set[envSigningSecret] = v
		}
	}
	if id := strings.TrimSpace(getenv(envGeminiAPIKeyARN)); id != "" {
		if strings.TrimSpace(getenv(envGeminiAPIKey)) != "" || strings.TrimSpace(getenv(envGoogleAPIKey)) != "" {
			errs = append(errs, fmt.Errorf("set %s (or %s) or %s, not both", envGeminiAPIKey, envGoogleAPIKey, envGeminiAPIKeyARN))
		} else if v, err := fetchValue(ctx, fetch, envGeminiAPIKeyARN, id, envGeminiAPIKey, "no API key"); err != nil {
			errs = append(errs, err)
		} else {
			set[envGeminiAPIKey] = v
		}
	}
	cfg, err := Load(func(name string) string {
		if v, ok := set[name]; ok {
			return v
		}
		return getenv(name)
	}, Serverless)
	l := Lambda{Config: cfg}
	errs = append(errs, err)
	l.WorkloadIdentityProvider, l.WorkloadIdentityServiceAccount, err = workloadIdentity(getenv)
	errs = append(errs, err)
	return l, errors.Join(errs...)
}

// fetchValue reads the secret id (named by the variable arn) and takes
// from it the value of the variable key: the whole value, or the JSON
// object's member key. Parse errors are not wrapped: they may quote the value.
func fetchValue(ctx context.Context, fetch FetchSecret, arn, id, key, what string) (string, error) {
	raw, err := fetch(ctx, id)
	if err != nil {
		return "", fmt.Errorf("%s: %w", arn, err)
	}
	v := strings.TrimSpace(raw)
	if strings.HasPrefix(v, "{") {
		var kv map[string]any
		if json.Unmarshal([]byte(v), &kv) != nil {
			return "", fmt.Errorf("%s %s: value looks like JSON but is not a valid object", arn, id)
		}
		s, ok := kv[key].(string)
		if !ok {
			return "", fmt.Errorf("%s %s: the secret holds %s (JSON value has no string key %q)", arn, id, what, key)
		}
		v = strings.TrimSpace(s)
	}
	if v == "" {
		return "", fmt.Errorf("%s %s: the secret holds %s", arn, id, what)
	}
	return v, nil
}

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

// workloadIdentity reads GCP_WORKLOAD_IDENTITY_PROVIDER and
// GCP_SERVICE_ACCOUNT. The provider and GOOGLE_APPLICATION_CREDENTIALS are
// two ways to the same credentials: one, not both.
func workloadIdentity(getenv func(string) string) (provider, serviceAccount string, err error) {
	provider = strings.TrimPrefix(strings.TrimSpace(getenv(envWIFProvider)), "//iam.googleapis.com/")
	serviceAccount = strings.TrimSpace(getenv(envWIFServiceAccount))
	if provider == "" {
		if serviceAccount != "" {
			return "", "", fmt.Errorf("%s is set without %s: impersonation needs the provider", envWIFServiceAccount, envWIFProvider)
		}
		return "", "", nil
	}
	var errs []error
	if getenv(envGoogleCredentials) != "" {
		errs = append(errs, fmt.Errorf("set %s or %s, not both", envWIFProvider, envGoogleCredentials))
	}
	if !providerName().MatchString(provider) {
		errs = append(errs, fmt.Errorf("%s %q: want projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER", envWIFProvider, provider))
	}
	if serviceAccount != "" && !serviceAccountEmail().MatchString(serviceAccount) {
		errs = append(errs, fmt.Errorf("%s %q: want a service account email (NAME@PROJECT.iam.gserviceaccount.com)", envWIFServiceAccount, serviceAccount))
	}
	return provider, serviceAccount, errors.Join(errs...)
}
