// Package env reads the receiver's configuration from the environment
// (README, Configuration): every variable is read and
// validated here, once per process, and nowhere else. An error names the
// variable (never a secret's value), and Load reports every mistake it
// finds at once.
package env

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
	"github.com/geminiwebhooks/receiver/core/tasks"
)

// Defaults that depend on where the receiver runs.
const (
	// DefaultFirestoreCollection holds the idempotency keys unless FIRESTORE_COLLECTION says otherwise.
	DefaultFirestoreCollection = "gemini_webhook_deliveries"
	// DefaultStatePath is the local file store, relative to the working directory.
	DefaultStatePath = ".gemini-webhooks/state.db"
	// DefaultLocalSink is where the local server lands results, relative to
	// the working directory, when RESULTS_SINK is unset.
	DefaultLocalSink = "results"
)

// Where is the kind of runtime whose defaults Load applies.
type Where int

const (
	// Local is the local server: file store, results in ./results.
	Local Where = iota
	// Cloud is a Cloud Function or a Lambda: Firestore, no results sink by default.
	Cloud
	// Memory is an embedded receiver (tests, benchmarks): the memory store,
	// nothing on disk.
	Memory
)

// Queue kinds QUEUE names.
const (
	QueuePubSub = "pubsub" // pubsub:projects/P/topics/T
	QueueSQS    = "sqs"    // sqs:https://sqs.REGION.amazonaws.com/ACCOUNT/NAME
)

// Config is the whole environment contract, shared by every entry point.
type Config struct {
	SigningSecrets []string // WEBHOOK_SIGNING_SECRET; empty: static scheme off
	Audience       string   // WEBHOOK_AUDIENCE; empty: dynamic scheme off
	JWKSURL        string   // WEBHOOK_JWKS_URL
	Issuer         string   // WEBHOOK_ISSUER
	Tolerance      time.Duration
	MaxBodyBytes   int64

	IdempotencyStore string // memory, file, firestore, dynamodb
	IdempotencyTTL   time.Duration
	StatePath        string // STATE_PATH: the file store (local)
	// MemoryStoreLimit is IDEMPOTENCY_MEMORY_LIMIT: the records (and jobs)
	// a memory store holds (see core.MemoryStore for what full means); 0:
	// sized to the memory available (MemoryStoreLimit).
	MemoryStoreLimit int

	GoogleCloudProject  string
	FirestoreDatabase   string
	FirestoreCollection string
	JobsCollection      string // FIRESTORE_JOBS_COLLECTION; empty: the ledger's default, "jobs"
	// FirestoreEmulatorHost is FIRESTORE_EMULATOR_HOST (host:port), read
	// here so that a build can check it is reachable; the client library
	// reads it too.
	FirestoreEmulatorHost string
	// DynamoDBTable is DYNAMODB_TABLE: the table of IDEMPOTENCY_STORE=dynamodb
	// (dynamodb.go). The SDK reads its endpoint (AWS_ENDPOINT_URL_DYNAMODB) itself.
	DynamoDBTable string

	Queue       string // QUEUE as given: "", pubsub:projects/P/topics/T, sqs:<url>
	QueueKind   string // QueuePubSub, QueueSQS or ""
	QueueTarget string // the topic name or the queue URL
	ResultsSink string // RESULTS_SINK, or the local default
	Port        string

	GeminiAPIKey    string // GEMINI_API_KEY (or GOOGLE_API_KEY)
	GeminiBaseURL   string // GOOGLE_GEMINI_BASE_URL
	ForwardURL      string // FORWARD_URL
	ForwardSecret   string // FORWARD_SIGNING_SECRET
	SlackWebhookURL string // SLACK_WEBHOOK_URL
	MaxAttempts     int    // MAX_ATTEMPTS: attempts of a queued event before it becomes a dead letter
	// INTERACTION_MAX_ROUNDS: interactions per tools conversation (core.Mux.Tool) before the receiver stops continuing it
	InteractionMaxRounds int
	// RetryBackoff (RETRY_BACKOFF) is the wait after the first failed
	// attempt, doubled after each; RetryBackoffSet says it was given.
	RetryBackoff    time.Duration
	RetryBackoffSet bool

	// ReceiverURLs (RECEIVER_URL, comma or space separated) are this
	// receiver's own public URLs: the reconcile reports a project webhook
	// pointing elsewhere. Empty: not checked.
	ReceiverURLs []string
	// ReconcileSince (RECONCILE_SINCE) is how far back the reconcile lists
	// batches by default.
	ReconcileSince time.Duration
}

// DefaultReconcileSince is RECONCILE_SINCE's default.
const DefaultReconcileSince = 48 * time.Hour

// ParseTopic checks a Pub/Sub topic name, projects/PROJECT/topics/TOPIC,
// and returns its project. The rules are Pub/Sub's: a project id of
// lowercase letters, digits, '-', '.' and ':' that starts with a letter and
// does not end with '-' ('.' and ':' for domain-scoped projects); a topic id
// of 3 to 255 letters, digits and -_.~+% that starts with a letter. Written
// out rather than as a regexp, so that no process pays for compiling one at
// start-up.
func ParseTopic(topic string) (project string, err error) {
	bad := fmt.Errorf("pubsub topic %q: want projects/PROJECT/topics/TOPIC", topic)
	rest, ok := strings.CutPrefix(topic, "projects/")
	if !ok {
		return "", bad
	}
	project, id, ok := strings.Cut(rest, "/topics/")
	if !ok || len(project) < 2 || !isLower(project[0]) || project[len(project)-1] == '-' || len(id) < 3 || len(id) > 255 || !isLetter(id[0]) {
		return "", bad
	}
	for i := 0; i < len(project); i++ {
		if c := project[i]; !isLower(c) && !isDigit(c) && c != '-' && c != '.' && c != ':' {
			return "", bad
		}
	}
	if c := project[len(project)-1]; c == '.' || c == ':' {
		return "", bad
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !isLetter(c) && !isDigit(c) && !strings.ContainsRune("-_.~+%", rune(c)) {
			return "", bad
		}
	}
	return project, nil
}

func isLower(c byte) bool  { return c >= 'a' && c <= 'z' }
func isLetter(c byte) bool { return isLower(c) || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

// Load reads the environment through getenv (os.Getenv in production) with
// the defaults of where.
func Load(getenv func(string) string, where Where) (Config, error) {
	defaultStore := map[Where]string{Local: "file", Cloud: "firestore", Memory: "memory"}[where]
	c := Config{
		Audience:              strings.TrimSpace(getenv("WEBHOOK_AUDIENCE")),
		JWKSURL:               orDefault(getenv("WEBHOOK_JWKS_URL"), core.DefaultJWKSURL),
		Issuer:                strings.TrimSpace(getenv("WEBHOOK_ISSUER")),
		IdempotencyStore:      orDefault(getenv("IDEMPOTENCY_STORE"), defaultStore),
		StatePath:             orDefault(getenv("STATE_PATH"), DefaultStatePath),
		GoogleCloudProject:    strings.TrimSpace(getenv("GOOGLE_CLOUD_PROJECT")),
		FirestoreDatabase:     orDefault(getenv("FIRESTORE_DATABASE"), "(default)"),
		FirestoreCollection:   orDefault(getenv("FIRESTORE_COLLECTION"), DefaultFirestoreCollection),
		JobsCollection:        strings.TrimSpace(getenv("FIRESTORE_JOBS_COLLECTION")),
		FirestoreEmulatorHost: strings.TrimSpace(getenv("FIRESTORE_EMULATOR_HOST")),
		Queue:                 strings.TrimSpace(getenv("QUEUE")),
		ResultsSink:           strings.TrimSpace(getenv("RESULTS_SINK")),
		Port:                  orDefault(getenv("PORT"), "8080"),
		GeminiAPIKey:          strings.TrimSpace(getenv("GEMINI_API_KEY")),
		GeminiBaseURL:         strings.TrimSpace(getenv("GOOGLE_GEMINI_BASE_URL")),
		ForwardURL:            strings.TrimSpace(getenv("FORWARD_URL")),
		ForwardSecret:         strings.TrimSpace(getenv("FORWARD_SIGNING_SECRET")),
		SlackWebhookURL:       strings.TrimSpace(getenv("SLACK_WEBHOOK_URL")),
		MaxAttempts:           tasks.DefaultMaxAttempts,
		InteractionMaxRounds:  jobs.DefaultMaxRounds,
		RetryBackoff:          tasks.DefaultRetryBackoff,
		MaxBodyBytes:          core.DefaultMaxBodyBytes,
	}
	if c.GeminiAPIKey == "" {
		c.GeminiAPIKey = strings.TrimSpace(getenv("GOOGLE_API_KEY")) // the SDK's other name for it
	}
	var errs []error
	if s := strings.TrimSpace(getenv("WEBHOOK_SIGNING_SECRET")); s != "" {
		secrets, err := core.ParseSecrets(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("WEBHOOK_SIGNING_SECRET: %w", err))
		}
		c.SigningSecrets = secrets
	}
	var err error
	if c.Tolerance, err = duration(getenv, "WEBHOOK_TOLERANCE", core.DefaultTolerance); err != nil {
		errs = append(errs, err)
	}
	if c.IdempotencyTTL, err = duration(getenv, "IDEMPOTENCY_TTL", core.DefaultTTL); err != nil {
		errs = append(errs, err)
	} else if c.IdempotencyTTL < 25*time.Hour {
		errs = append(errs, fmt.Errorf("IDEMPOTENCY_TTL %s is shorter than Gemini's 24 h of retries plus margin (min 25h)", c.IdempotencyTTL))
	}
	if s := strings.TrimSpace(getenv("WEBHOOK_MAX_BODY_BYTES")); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Errorf("WEBHOOK_MAX_BODY_BYTES %q: want a positive byte count", s))
		}
		c.MaxBodyBytes = n
	}
	if s := strings.TrimSpace(getenv("IDEMPOTENCY_MEMORY_LIMIT")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Errorf("IDEMPOTENCY_MEMORY_LIMIT %q: want a positive record count", s))
		}
		c.MemoryStoreLimit = n
	}
	switch c.IdempotencyStore {
	case "memory", "file", "firestore", "dynamodb":
	default:
		errs = append(errs, fmt.Errorf("IDEMPOTENCY_STORE %q: want memory, file, firestore or dynamodb", c.IdempotencyStore))
	}
	if c.IdempotencyStore == "firestore" && c.GoogleCloudProject == "" {
		errs = append(errs, missingProject(where))
	}
	errs = append(errs, c.loadDynamoDB(getenv)...)
	if err := c.parseQueue(); err != nil {
		errs = append(errs, err)
	}
	if c.ResultsSink == "" && where == Local && c.IdempotencyStore == "file" {
		c.ResultsSink = DefaultLocalSink
	}
	if err := checkSink(c.ResultsSink); err != nil {
		errs = append(errs, err)
	}
	if s := strings.TrimSpace(getenv("MAX_ATTEMPTS")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			errs = append(errs, fmt.Errorf("MAX_ATTEMPTS %q: want a whole number from 1 to 100", s))
		}
		c.MaxAttempts = n
	}
	if s := strings.TrimSpace(getenv("INTERACTION_MAX_ROUNDS")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			errs = append(errs, fmt.Errorf("INTERACTION_MAX_ROUNDS %q: want a whole number from 1 to 1000", s))
		}
		c.InteractionMaxRounds = n
	}
	c.RetryBackoffSet = strings.TrimSpace(getenv("RETRY_BACKOFF")) != ""
	if c.RetryBackoff, err = duration(getenv, "RETRY_BACKOFF", tasks.DefaultRetryBackoff); err != nil {
		errs = append(errs, err)
	}
	if (c.ForwardURL == "") != (c.ForwardSecret == "") {
		errs = append(errs, errors.New("FORWARD_URL and FORWARD_SIGNING_SECRET go together: set both or neither"))
	}
	urls, urlErrs := ReceiverURLs(getenv)
	c.ReceiverURLs, errs = urls, append(errs, urlErrs...)
	if c.ReconcileSince, err = duration(getenv, "RECONCILE_SINCE", DefaultReconcileSince); err != nil {
		errs = append(errs, err)
	} else if c.ReconcileSince <= 0 {
		errs = append(errs, errors.New("RECONCILE_SINCE: want a positive duration"))
	}
	return c, errors.Join(errs...)
}

// missingProject names what a Firestore store lacks without
// GOOGLE_CLOUD_PROJECT, instead of the client library's credentials error.
func missingProject(where Where) error {
	if where == Cloud {
		return errors.New("GOOGLE_CLOUD_PROJECT is unset: the Firestore store (IDEMPOTENCY_STORE=firestore, the cloud default) needs the project that holds the database")
	}
	return errors.New("GOOGLE_CLOUD_PROJECT is unset: IDEMPOTENCY_STORE=firestore needs the project that holds the database (with FIRESTORE_EMULATOR_HOST, any project id)")
}

// parseQueue splits QUEUE into its kind and target and checks the target's form.
func (c *Config) parseQueue() error {
	if c.Queue == "" {
		return nil
	}
	kind, target, _ := strings.Cut(c.Queue, ":")
	switch kind {
	case QueuePubSub:
		if _, err := ParseTopic(target); err != nil {
			return fmt.Errorf("QUEUE %q: want pubsub:projects/PROJECT/topics/TOPIC", c.Queue)
		}
	case QueueSQS:
		u, err := url.Parse(target)
		if err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Host == "" || strings.Trim(u.Path, "/") == "" {
			return fmt.Errorf("QUEUE %q: not a queue URL: want sqs:https://sqs.REGION.amazonaws.com/ACCOUNT/NAME", c.Queue)
		}
	default:
		return fmt.Errorf("QUEUE %q: want pubsub:projects/P/topics/T or sqs:<queue URL>", c.Queue)
	}
	c.QueueKind, c.QueueTarget = kind, target
	return nil
}

// SinkScheme is RESULTS_SINK's kind: "gs", "s3", "file" (a folder) or "" (none).
func (c Config) SinkScheme() string {
	switch {
	case c.ResultsSink == "":
		return ""
	case strings.HasPrefix(c.ResultsSink, "gs://"):
		return "gs"
	case strings.HasPrefix(c.ResultsSink, "s3://"):
		return "s3"
	}
	return "file"
}

// checkSink refuses a RESULTS_SINK that names a scheme no sink serves: a
// typo such as ftp://x would otherwise become a folder named "ftp:".
func checkSink(s string) error {
	if s == "" {
		return nil
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return nil // a folder
	}
	switch scheme {
	case "gs", "s3":
		if bucket, _, _ := strings.Cut(rest, "/"); bucket == "" {
			return fmt.Errorf("RESULTS_SINK %q names no bucket: want %s://BUCKET[/PREFIX]", s, scheme)
		}
		return nil
	}
	return fmt.Errorf("RESULTS_SINK %q: want a folder, gs://BUCKET[/PREFIX] or s3://BUCKET[/PREFIX]", s)
}

// Schemes names the signature schemes this configuration turns on.
func (c Config) Schemes() []core.Scheme {
	var s []core.Scheme
	if len(c.SigningSecrets) > 0 {
		s = append(s, core.SchemeStatic)
	}
	if c.Audience != "" {
		s = append(s, core.SchemeDynamic)
	}
	return s
}

func duration(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	s := strings.TrimSpace(getenv(name))
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return def, fmt.Errorf("%s %q: want a positive Go duration such as 5m", name, s)
	}
	return d, nil
}

func orDefault(s, def string) string {
	if s = strings.TrimSpace(s); s != "" {
		return s
	}
	return def
}

// LambdaLogLevel is AWS_LAMBDA_LOG_LEVEL, which Lambda sets from the
// function's ApplicationLogLevel (JSON log format): TRACE and DEBUG log
// everything, then INFO, WARN, ERROR, FATAL. Unset: INFO. An unknown value
// is reported with INFO in effect.
func LambdaLogLevel(getenv func(string) string) (slog.Level, error) {
	switch s := strings.ToUpper(strings.TrimSpace(getenv("AWS_LAMBDA_LOG_LEVEL"))); s {
	case "", "INFO":
		return slog.LevelInfo, nil
	case "TRACE", "DEBUG":
		return slog.LevelDebug, nil
	case "WARN":
		return slog.LevelWarn, nil
	case "ERROR":
		return slog.LevelError, nil
	case "FATAL":
		return slog.LevelError + 4, nil
	default:
		return slog.LevelInfo, fmt.Errorf("AWS_LAMBDA_LOG_LEVEL %q: want TRACE, DEBUG, INFO, WARN, ERROR or FATAL", s)
	}
}

// ReceiverURLs reads RECEIVER_URL (comma or space separated): the http(s)
// URLs it holds, and an error naming each other entry.
func ReceiverURLs(getenv func(string) string) ([]string, []error) {
	var urls []string
	var errs []error
	for _, u := range strings.FieldsFunc(getenv("RECEIVER_URL"), func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		if pu, err := url.Parse(u); err != nil || pu.Host == "" || (pu.Scheme != "https" && pu.Scheme != "http") {
			errs = append(errs, fmt.Errorf("RECEIVER_URL %q: want an http(s) URL", core.PrintableID(u)))
			continue
		}
		urls = append(urls, u)
	}
	return urls, errs
}
