package env

import (
	"errors"
	"strings"
)

// Admin is what only the admin CLI reads, beyond Config and Gemini.
type Admin struct {
	// ReconcileURL is RECONCILE_URL: GeminiReconcile's URL, where
	// `deadletters replay` sends a dead letter when QUEUE is unset.
	ReconcileURL string
	// ReconcileIDToken is RECONCILE_ID_TOKEN: the identity token for it
	// (empty: Application Default Credentials, else gcloud's).
	ReconcileIDToken string
	// AWSRegion is AWS_REGION, else AWS_DEFAULT_REGION (the AWS SDK reads
	// them itself): set, the environment points at AWS, and `status` counts
	// deliveries in CloudWatch.
	AWSRegion string
	// SecretManagerEmulatorHost (SECRETMANAGER_EMULATOR_HOST) and
	// MonitoringEmulatorHost (MONITORING_EMULATOR_HOST) point the Secret
	// Manager and Cloud Monitoring clients at a plaintext,
	// unauthenticated loopback host:port (test stand-ins), in the style of
	// FIRESTORE_EMULATOR_HOST.
	SecretManagerEmulatorHost string
	MonitoringEmulatorHost    string
}

// LoadAdmin reads the admin CLI's own variables through getenv.
func LoadAdmin(getenv func(string) string) (Admin, error) {
	a := Admin{
		ReconcileURL:              strings.TrimSpace(getenv("RECONCILE_URL")),
		ReconcileIDToken:          strings.TrimSpace(getenv("RECONCILE_ID_TOKEN")),
		AWSRegion:                 strings.TrimSpace(getenv("AWS_REGION")),
		SecretManagerEmulatorHost: strings.TrimSpace(getenv("SECRETMANAGER_EMULATOR_HOST")),
		MonitoringEmulatorHost:    strings.TrimSpace(getenv("MONITORING_EMULATOR_HOST")),
	}
	if a.AWSRegion == "" {
		a.AWSRegion = strings.TrimSpace(getenv("AWS_DEFAULT_REGION"))
	}
	return a, errors.Join(
		httpURL("RECONCILE_URL", a.ReconcileURL),
		loopbackHostPort("SECRETMANAGER_EMULATOR_HOST", a.SecretManagerEmulatorHost),
		loopbackHostPort("MONITORING_EMULATOR_HOST", a.MonitoringEmulatorHost),
	)
}
