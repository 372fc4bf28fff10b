package core

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Config is the environment contract of DESIGN.md §4, shared by every entry point.
type Config struct {
	SigningSecrets []string // WEBHOOK_SIGNING_SECRET; empty: static scheme off
	Audience       string   // WEBHOOK_AUDIENCE; empty: dynamic scheme off
	JWKSURL        string   // WEBHOOK_JWKS_URL
	Issuer         string   // WEBHOOK_ISSUER
	Tolerance      time.Duration
	MaxBodyBytes   int64

	IdempotencyStore string // memory, file, firestore
	IdempotencyTTL   time.Duration
	StatePath        string // file store location (local)
	// MemoryStoreLimit is IDEMPOTENCY_MEMORY_LIMIT: the records a memory
	// store holds (see MemoryStore for what full means); 0: the default.
	MemoryStoreLimit int

	GoogleCloudProject  string
	FirestoreDatabase   string
	FirestoreCollection string

	Queue       string // "", pubsub:projects/P/topics/T, sqs:<url>
	ResultsSink string
	Port        string
}

// DefaultFirestoreCollection holds the idempotency keys unless FIRESTORE_COLLECTION says otherwise.
const DefaultFirestoreCollection = "gemini_webhook_deliveries"

// LoadConfig reads the environment through getenv (os.Getenv in production).
// defaultStore is "file" for the local server and "firestore" in the clouds.
func LoadConfig(getenv func(string) string, defaultStore string) (Config, error) {
	c := Config{
		Audience:            strings.TrimSpace(getenv("WEBHOOK_AUDIENCE")),
		JWKSURL:             orDefault(getenv("WEBHOOK_JWKS_URL"), DefaultJWKSURL),
		Issuer:              strings.TrimSpace(getenv("WEBHOOK_ISSUER")),
		IdempotencyStore:    orDefault(getenv("IDEMPOTENCY_STORE"), defaultStore),
		StatePath:           getenv("STATE_PATH"),
		GoogleCloudProject:  getenv("GOOGLE_CLOUD_PROJECT"),
		FirestoreDatabase:   orDefault(getenv("FIRESTORE_DATABASE"), "(default)"),
		FirestoreCollection: orDefault(getenv("FIRESTORE_COLLECTION"), DefaultFirestoreCollection),
		Queue:               strings.TrimSpace(getenv("QUEUE")),
		ResultsSink:         strings.TrimSpace(getenv("RESULTS_SINK")),
		Port:                orDefault(getenv("PORT"), "8080"),
	}
	if s := strings.TrimSpace(getenv("WEBHOOK_SIGNING_SECRET")); s != "" {
		secrets, err := ParseSecrets(s)
		if err != nil {
			return c, fmt.Errorf("WEBHOOK_SIGNING_SECRET: %w", err)
		}
		c.SigningSecrets = secrets
	}
	var err error
	if c.Tolerance, err = durationEnv(getenv, "WEBHOOK_TOLERANCE", DefaultTolerance); err != nil {
		return c, err
	}
	if c.IdempotencyTTL, err = durationEnv(getenv, "IDEMPOTENCY_TTL", DefaultTTL); err != nil {
		return c, err
	}
	if c.IdempotencyTTL < 25*time.Hour {
		return c, fmt.Errorf("IDEMPOTENCY_TTL %s is shorter than Gemini's 24 h of retries plus margin (min 25h)", c.IdempotencyTTL)
	}
	c.MaxBodyBytes = DefaultMaxBodyBytes
	if s := getenv("WEBHOOK_MAX_BODY_BYTES"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return c, fmt.Errorf("WEBHOOK_MAX_BODY_BYTES %q: want a positive byte count", s)
		}
		c.MaxBodyBytes = n
	}
	if s := strings.TrimSpace(getenv("IDEMPOTENCY_MEMORY_LIMIT")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return c, fmt.Errorf("IDEMPOTENCY_MEMORY_LIMIT %q: want a positive record count", s)
		}
		c.MemoryStoreLimit = n
	}
	switch c.IdempotencyStore {
	case "memory", "file", "firestore":
	default:
		return c, fmt.Errorf("IDEMPOTENCY_STORE %q: want memory, file or firestore", c.IdempotencyStore)
	}
	if c.Queue != "" && !strings.HasPrefix(c.Queue, "pubsub:") && !strings.HasPrefix(c.Queue, "sqs:") {
		return c, fmt.Errorf("QUEUE %q: want pubsub:projects/P/topics/T or sqs:<queue URL>", c.Queue)
	}
	return c, nil
}

// Schemes names the signature schemes this configuration turns on.
func (c Config) Schemes() []Scheme {
	var s []Scheme
	if len(c.SigningSecrets) > 0 {
		s = append(s, SchemeStatic)
	}
	if c.Audience != "" {
		s = append(s, SchemeDynamic)
	}
	return s
}

func durationEnv(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	s := strings.TrimSpace(getenv(name))
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s %q: want a positive Go duration such as 5m", name, s)
	}
	return d, nil
}

func orDefault(s, def string) string {
	if s = strings.TrimSpace(s); s != "" {
		return s
	}
	return def
}
