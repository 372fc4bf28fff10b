package env_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/geminiwebhooks/receiver/adapters/internal/env"
)

func TestQueue(t *testing.T) {
	cases := []struct {
		in, kind, target, err string
	}{
		{"", "", "", ""},
		{"pubsub:projects/my-proj/topics/gemini-events", "pubsub", "projects/my-proj/topics/gemini-events", ""},
		{"sqs:https://sqs.eu-west-1.amazonaws.com/123456789012/gemini-events", "sqs", "https://sqs.eu-west-1.amazonaws.com/123456789012/gemini-events", ""},
		{"sqs:http://127.0.0.1:5000/123456789012/q.fifo", "sqs", "http://127.0.0.1:5000/123456789012/q.fifo", ""},
		{"pubsub:gemini-events", "", "", "projects/PROJECT/topics/TOPIC"},
		{"pubsub:projects/p/topics/t", "", "", "projects/PROJECT/topics/TOPIC"},
		{"sqs:gemini-events", "", "", "sqs:https://"},
		{"kafka:events", "", "", "want pubsub:"},
	}
	for _, c := range cases {
		cfg, err := env.Load(func(k string) string { return map[string]string{"QUEUE": c.in, "GOOGLE_CLOUD_PROJECT": "p"}[k] }, env.Serverless)
		if cfg.QueueKind != c.kind || cfg.QueueTarget != c.target || (err == nil) != (c.err == "") || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("QUEUE=%q: %q, %q, %v; want %q, %q, error with %q", c.in, cfg.QueueKind, cfg.QueueTarget, err, c.kind, c.target, c.err)
		}
		if err != nil && !strings.Contains(err.Error(), "QUEUE") {
			t.Errorf("QUEUE=%q: the error %q does not name the variable", c.in, err)
		}
	}
}

// Every mistake is reported at once, each naming its variable, and a
// RESULTS_SINK with a scheme no sink serves is refused instead of becoming a
// folder named after it.
func TestLoadReportsEveryMistake(t *testing.T) {
	vars := map[string]string{
		"WEBHOOK_TOLERANCE": "soon", "IDEMPOTENCY_TTL": "1h", "IDEMPOTENCY_STORE": "redis",
		"QUEUE": "kafka:x", "RESULTS_SINK": "ftp://x", "MAX_ATTEMPTS": "0", "RETRY_BACKOFF": "-1s", "INTERACTION_MAX_ROUNDS": "none",
		"FORWARD_URL": "https://example.invalid/hook", "WEBHOOK_MAX_BODY_BYTES": "lots",
	}
	_, err := env.Load(func(k string) string { return vars[k] }, env.Local)
	if err == nil {
		t.Fatal("no error")
	}
	for name := range vars {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("the error does not name %s:\n%v", name, err)
		}
	}
	for _, ok := range []string{"results", "/var/results", "gs://b/p", "s3://b"} {
		if _, err := env.Load(func(k string) string { return map[string]string{"RESULTS_SINK": ok, "GOOGLE_CLOUD_PROJECT": "p"}[k] }, env.Serverless); err != nil {
			t.Errorf("RESULTS_SINK=%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"gs://", "s3:///p"} {
		if _, err := env.Load(func(k string) string { return map[string]string{"RESULTS_SINK": bad}[k] }, env.Serverless); err == nil || !strings.Contains(err.Error(), "RESULTS_SINK") {
			t.Errorf("RESULTS_SINK=%s: %v, want an error naming RESULTS_SINK", bad, err)
		}
	}
}

func TestMemoryStoreLimitConfigurable(t *testing.T) {
	tests := []struct {
		env     string
		want    int
		wantErr bool
	}{
		{"", 0, false},
		{"5000", 5000, false},
		{"0", 0, true},
		{"lots", 0, true},
	}
	for _, tc := range tests {
		vars := map[string]string{"IDEMPOTENCY_STORE": "memory", "IDEMPOTENCY_MEMORY_LIMIT": tc.env}
		c, err := env.Load(func(k string) string { return vars[k] }, env.Memory)
		if (err != nil) != tc.wantErr || (err == nil && c.MemoryStoreLimit != tc.want) {
			t.Errorf("IDEMPOTENCY_MEMORY_LIMIT=%q: %d, %v", tc.env, c.MemoryStoreLimit, err)
		}
	}
}

func TestParseTopic(t *testing.T) {
	cases := []struct{ topic, project, err string }{
		{"projects/my-project/topics/gemini-webhook-events", "my-project", ""},
		{"projects/example.com:proj-1/topics/t_1.x~y+z%2", "example.com:proj-1", ""},
		{"projects/my-project/topics/ab", "", "projects/PROJECT/topics/TOPIC"}, // ids have at least 3 characters
		{"projects/my-project/topics/1abc", "", "projects/PROJECT/topics/TOPIC"},
		{"projects/my-project/subscriptions/abc", "", "projects/PROJECT/topics/TOPIC"},
		{"gemini-webhook-events", "", "projects/PROJECT/topics/TOPIC"},
		{"projects//topics/abc", "", "projects/PROJECT/topics/TOPIC"},
		{"projects/My-project/topics/abc", "", "projects/PROJECT/topics/TOPIC"},
		{"projects/my-project-/topics/abc", "", "projects/PROJECT/topics/TOPIC"},
		{"projects/my-project/topics/abc/def", "", "projects/PROJECT/topics/TOPIC"},
		{"projects/my-project/topics/" + strings.Repeat("a", 256), "", "projects/PROJECT/topics/TOPIC"},
	}
	for _, c := range cases {
		p, err := env.ParseTopic(c.topic)
		if p != c.project || (err == nil) != (c.err == "") || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("ParseTopic(%q) = %q, %v; want %q, %q", c.topic, p, err, c.project, c.err)
		}
	}
}

// A Firestore store without GOOGLE_CLOUD_PROJECT is named at start-up
// (before: the client library's credentials error on the first call); the
// local default, the file store, needs no project.
func TestFirestoreNeedsProject(t *testing.T) {
	cases := []struct {
		name    string
		where   env.Where
		vars    map[string]string
		wantErr bool
	}{
		{"cloud default store", env.Serverless, nil, true},
		{"cloud default store with project", env.Serverless, map[string]string{"GOOGLE_CLOUD_PROJECT": "p"}, false},
		{"local firestore", env.Local, map[string]string{"IDEMPOTENCY_STORE": "firestore"}, true},
		{"local firestore with emulator and no project", env.Local, map[string]string{"IDEMPOTENCY_STORE": "firestore", "FIRESTORE_EMULATOR_HOST": "127.0.0.1:1"}, true},
		{"local default (file)", env.Local, nil, false},
		{"cloud memory store", env.Serverless, map[string]string{"IDEMPOTENCY_STORE": "memory"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := env.Load(func(k string) string { return c.vars[k] }, c.where)
			if (err != nil) != c.wantErr {
				t.Fatalf("err %v, want error: %v", err, c.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "GOOGLE_CLOUD_PROJECT") {
				t.Errorf("the error does not name GOOGLE_CLOUD_PROJECT: %v", err)
			}
		})
	}
}

// AWS_LAMBDA_LOG_LEVEL (Lambda's ApplicationLogLevel) sets the Lambda
// logger's level; an unknown value is named and INFO kept.
func TestLambdaLogLevel(t *testing.T) {
	cases := []struct {
		in      string
		want    slog.Level
		wantErr bool
	}{
		{"", slog.LevelInfo, false},
		{"TRACE", slog.LevelDebug, false},
		{"debug", slog.LevelDebug, false},
		{"INFO", slog.LevelInfo, false},
		{"WARN", slog.LevelWarn, false},
		{"ERROR", slog.LevelError, false},
		{"FATAL", slog.LevelError + 4, false},
		{"LOUD", slog.LevelInfo, true},
	}
	for _, c := range cases {
		got, err := env.LambdaLogLevel(func(k string) string { return map[string]string{"AWS_LAMBDA_LOG_LEVEL": c.in}[k] })
		if got != c.want || (err != nil) != c.wantErr || err != nil && !strings.Contains(err.Error(), "AWS_LAMBDA_LOG_LEVEL") {
			t.Errorf("%q: %v, %v; want %v, error %v naming the variable", c.in, got, err, c.want, c.wantErr)
		}
	}
}
