package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ps "cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/geminiwebhooks/receiver/adapters/aws"
	"github.com/geminiwebhooks/receiver/adapters/env"
	"github.com/geminiwebhooks/receiver/adapters/wire"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
)

// fixedNow is the clock of the operator tests: ages are exact.
var fixedNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// seed writes real records through the backend the environment names: a
// landed batch, a failed landing, one skipped, a requires_action stuck for 2 h, and two
// dead letters (one replayable event, one that is not JSON).
func seed(t *testing.T, getenv func(string) string) {
	t.Helper()
	cfg, err := env.Load(getenv, env.Local)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	b, err := wire.OpenBackendIn(ctx, cfg, (&aws.Clients{}).Cloud())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	put := func(j jobs.Job) {
		if _, err := b.Ledger.UpdateJob(ctx, j.ID, func(*jobs.Job) (*jobs.Job, error) { return &j, nil }); err != nil {
			t.Fatal(err)
		}
	}
	put(jobs.Job{ID: "batches/landed", Kind: "batch", State: jobs.JobSucceeded, FirstSeen: fixedNow.Add(-3 * time.Hour), UpdatedAt: fixedNow.Add(-3 * time.Minute),
		Output: &jobs.Manifest{URI: "gs://bucket/gemini/batches/landed/output.jsonl", Bytes: 1234}})
	put(jobs.Job{ID: "batches/nolanding", Kind: "batch", State: jobs.JobSucceeded, FirstSeen: fixedNow.Add(-2 * time.Hour), UpdatedAt: fixedNow.Add(-10 * time.Minute),
		LandingError: "403 Forbidden on gs://bucket"})
	put(jobs.Job{ID: "batches/unlanded", Kind: "batch", State: jobs.JobSucceeded, FirstSeen: fixedNow.Add(-2 * time.Hour), UpdatedAt: fixedNow.Add(-20 * time.Minute),
		Landing: jobs.LandingSkipped, LandingError: "GEMINI_API_KEY is not set"})
	put(jobs.Job{ID: "interactions/stuck", Kind: "interaction", State: jobs.JobRequiresAction, FirstSeen: fixedNow.Add(-2 * time.Hour),
		StateAt: fixedNow.Add(-2 * time.Hour), UpdatedAt: fixedNow.Add(-2 * time.Hour)})
	for _, d := range []core.DeadLetter{
		{Key: "msg_dead_event", Scheme: core.SchemeStatic, EventType: "interaction.completed", Reason: "handler: boom", ReceivedAt: fixedNow.Add(-5 * time.Minute), Attempts: 5,
			Body: []byte(`{"type":"interaction.completed","version":"v1","timestamp":"2026-12-01T11:55:00Z","data":{"id":"interactions/replayed"}}`)},
		{Key: "msg_dead_garbage", Scheme: core.SchemeStatic, Reason: "not JSON", ReceivedAt: fixedNow.Add(-26 * time.Hour), Body: []byte("\x00not json")},
	} {
		if err := b.DeadLetters.PutDeadLetter(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
}

type opStep struct {
	name     string
	args     []string
	wantCode int
	want     []string // in stdout (stderr for failures)
	not      []string // nowhere in stdout
}

func runSteps(t *testing.T, getenv func(string) string, steps []opStep) {
	t.Helper()
	now = func() time.Time { return fixedNow }
	t.Cleanup(func() { now = time.Now })
	for _, s := range steps {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), s.args, &stdout, &stderr, getenv)
		out := stdout.String()
		if code != exitOK {
			out = stderr.String()
		}
		if code != s.wantCode {
			t.Errorf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", s.name, code, s.wantCode, stdout.String(), stderr.String())
			continue
		}
		for _, w := range s.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output lacks %q:\n%s", s.name, w, out)
			}
		}
		for _, w := range s.not {
			if strings.Contains(stdout.String(), w) {
				t.Errorf("%s: output has %q:\n%s", s.name, w, stdout.String())
			}
		}
		if code != exitOK && strings.Count(strings.TrimSpace(stderr.String()), "\n") != 0 {
			t.Errorf("%s: the error is more than one line:\n%s", s.name, stderr.String())
		}
	}
}

// The common steps, against any backend.
func readSteps() []opStep {
	return []opStep{
		{"status", []string{"status"}, 0, []string{"requires_action 1", "succeeded 3", "stuck requires_action (> 1h)  1", "landings failed               1", "landings skipped              1", "not landed: GEMINI_API_KEY is not set",
			"dead letters                  2", "interactions/stuck", "requires_action (stuck)", "landing failed: 403 Forbidden"}, []string{"0001-01-01"}},
		{"status --json", []string{"status", "--json"}, 0, []string{`"dead_letters": 2`, `"requires_action": 1`, `"stuck_requires_action"`}, []string{"0001-01-01"}},
		{"jobs list", []string{"jobs", "list"}, 0, []string{"ID", "STATE", "UPDATED", "batches/landed", "3m ago", "gs://bucket/gemini/batches/landed/output.jsonl", "2h ago"}, []string{"0001-01-01"}},
		{"jobs get", []string{"jobs", "get", "batches/landed", "--json"}, 0, []string{`"bytes": 1234`}, []string{"0001-01-01", "finished_at"}},
		{"jobs get unknown", []string{"jobs", "get", "batches/nope"}, 1, []string{`no job "batches/nope"`}, nil},
		{"deadletters list", []string{"deadletters", "list"}, 0, []string{"KEY", "msg_dead_event", "5m ago", "handler: boom", "msg_dead_garbage", "26h ago"}, nil},
		{"deadletters get shows JSON", []string{"deadletters", "get", "msg_dead_event"}, 0, []string{`"body": {`, `"interactions/replayed"`}, nil},
		{"deadletters get unknown", []string{"deadletters", "get", "msg_nope"}, 1, []string{`no dead letter "msg_nope"`}, nil},
		{"replay --dry-run changes nothing", []string{"deadletters", "replay", "--all", "--dry-run"}, 0, []string{"would replay msg_dead_event", "would replay msg_dead_garbage"}, nil},
		{"replay needs a key or --all", []string{"deadletters", "replay"}, 2, []string{"replay KEY|--all"}, nil},
		{"help", []string{"deadletters", "-h"}, 0, nil, nil},
	}
}

// TestOperatorCommandsLocalFile: status, jobs and deadletters against the
// local bbolt file, with friendly output; replay --all puts every dead
// letter back on the file's durable queue (it runs when the server starts)
// and leaves none.
func TestOperatorCommandsLocalFile(t *testing.T) {
	statePath := filepath.Join(t.TempDir(), "state.db")
	vars := map[string]string{"STATE_PATH": statePath}
	getenv := func(k string) string { return vars[k] }
	runSteps(t, func(k string) string {
		return map[string]string{"STATE_PATH": filepath.Join(t.TempDir(), "missing.db")}[k]
	}, []opStep{
		{"no state file", []string{"status"}, 1, []string{"no state file at", "missing.db", "set STATE_PATH"}, nil},
	})
	seed(t, getenv)
	runSteps(t, getenv, append(readSteps(),
		opStep{"replay --all", []string{"deadletters", "replay", "--all"}, 0, []string{"queued msg_dead_event", "queued msg_dead_garbage", "next starts"}, nil},
		opStep{"nothing left", []string{"deadletters", "list"}, 0, []string{"no dead letters"}, nil},
		opStep{"status after", []string{"status", "--json"}, 0, []string{`"dead_letters": 0`, `"queued_tasks": 2`}, nil},
	))
}

// TestOperatorCommandsFirestore: the same commands against the Firestore
// emulator. A replay never runs anything in this process: with neither
// QUEUE nor RECONCILE_URL it says how to reach the deployment, and a body
// that is no event is refused as never processable (replay_test.go runs
// the replays through the deployed code).
func TestOperatorCommandsFirestore(t *testing.T) {
	vars := firestoreEmulator(t, "ops")
	getenv := func(k string) string { return vars[k] }
	seed(t, getenv)
	runSteps(t, getenv, append(readSteps(),
		opStep{"replay, nowhere to go", []string{"deadletters", "replay", "msg_dead_event"}, 1, []string{"replay msg_dead_event: QUEUE and RECONCILE_URL are unset"}, nil},
		opStep{"replay, not an event", []string{"deadletters", "replay", "msg_dead_garbage"}, 1, []string{"replay msg_dead_garbage: it can never be processed"}, nil},
		opStep{"both are kept", []string{"deadletters", "list"}, 0, []string{"msg_dead_garbage", "msg_dead_event"}, nil},
	))
}

// TestStatusShowsWebhooks: with an API key, status lists each webhook's
// state and the expiry of a rotation's previous secret; without one it
// says the webhooks were not asked.
func TestStatusShowsWebhooks(t *testing.T) {
	svc := newWebhookService(t)
	dir := t.TempDir()
	mustOK(t, runCLI(t, svc.env(), "create", "--uri", "https://a.example.com/h", "--events", "batch.succeeded", "--secret-out", "file:"+dir+"/s"))
	mustOK(t, runCLI(t, svc.env(), "rotate", "--id", "wh0001", "--secret-out", "file:"+dir+"/s"))
	statePath := filepath.Join(t.TempDir(), "state.db")
	withKey := svc.env()
	withKey["STATE_PATH"] = statePath
	seed(t, func(k string) string { return withKey[k] })
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"table", withKey, []string{"status"}, []string{"WEBHOOK", "wh0001", "enabled", "https://a.example.com/h", "NEXT EXPIRY"}},
		{"json", withKey, []string{"status", "--json"}, []string{`"webhooks": [`, `"id": "wh0001"`, `"signing_secrets": 2`, `"next_secret_expiry"`}},
		{"no key", map[string]string{"STATE_PATH": statePath}, []string{"status"}, []string{"GEMINI_API_KEY is unset: the webhooks were not asked"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), c.args, &stdout, &stderr, func(k string) string { return c.env[k] }); code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			for _, w := range c.want {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("status lacks %q:\n%s", w, stdout.String())
				}
			}
		})
	}
}

// recordedOnce checks, in the backend getenv names, that the job
// interactions/<id> of each delivery id names that delivery once: it was
// processed once.
func recordedOnce(t *testing.T, getenv func(string) string, ids ...string) {
	t.Helper()
	cfg, err := env.Load(getenv, env.Local)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	b, err := wire.OpenBackendIn(ctx, cfg, (&aws.Clients{}).Cloud())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, id := range ids {
		j, err := b.Ledger.GetJob(ctx, "interactions/"+id)
		if err != nil || j == nil {
			t.Fatalf("job of %s: %v %v", id, j, err)
		}
		if len(j.Deliveries) != 1 || j.Deliveries[0] != id {
			t.Errorf("job of %s: deliveries %v, want it once", id, j.Deliveries)
		}
	}
}

// firestoreEmulator starts the Firestore emulator for t (skipped with
// -short) and returns the variables of a Firestore store in a project of
// its own, named from prefix.
func firestoreEmulator(t *testing.T, prefix string) map[string]string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts the Firestore emulator")
	}
	svc, err := testenv.StartFirestore(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Stop)
	t.Setenv("FIRESTORE_EMULATOR_HOST", svc.Host) // the client library reads it
	return map[string]string{"IDEMPOTENCY_STORE": "firestore", "GOOGLE_CLOUD_PROJECT": fmt.Sprintf("%s-%d", prefix, os.Getpid()), "FIRESTORE_EMULATOR_HOST": svc.Host}
}

// pubsubEmulator starts the Pub/Sub emulator for t (skipped with -short)
// and returns a client of a project of its own, named from prefix.
func pubsubEmulator(t *testing.T, prefix string) (*ps.Client, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts the Pub/Sub emulator")
	}
	svc, err := testenv.StartPubSub(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Stop)
	t.Setenv("PUBSUB_EMULATOR_HOST", svc.Host)
	project := fmt.Sprintf("%s-%d", prefix, os.Getpid())
	c, err := ps.NewClient(context.Background(), project)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, project
}

// TestPubSubDeadLetterFallback on the emulator: no subscription of the
// topic has a dead-letter policy (none yet, or a policy the emulator would
// not keep): deploy.sh's name, with a note saying so; a policy naming a
// topic nobody subscribes to is an error that says what to do.
func TestPubSubDeadLetterFallback(t *testing.T) {
	ctx := context.Background()
	c, project := pubsubEmulator(t, "ops-fb")
	p := "projects/" + project
	for _, name := range []string{p + "/topics/plain", p + "/topics/orphaned", p + "/topics/orphaned-dead"} {
		if _, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []*pubsubpb.Subscription{
		{Name: p + "/subscriptions/plain-worker", Topic: p + "/topics/plain"},
		{Name: p + "/subscriptions/orphaned-worker", Topic: p + "/topics/orphaned", DeadLetterPolicy: &pubsubpb.DeadLetterPolicy{DeadLetterTopic: p + "/topics/orphaned-dead", MaxDeliveryAttempts: 5}},
	} {
		if _, err := c.SubscriptionAdminClient.CreateSubscription(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		topic, wantSub, wantNote, wantErr string
	}{
		{topic: p + "/topics/plain", wantSub: p + "/subscriptions/plain-dead-letter-sub", wantNote: conventionNote},
		{topic: p + "/topics/orphaned", wantErr: "has no subscription: its messages are dropped"},
	}
	for _, tc := range tests {
		sub, note, err := findDeadLetterSub(ctx, c, tc.topic)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: error %v, want %q", tc.topic, err, tc.wantErr)
			}
			continue
		}
		if err != nil || sub != tc.wantSub || note != tc.wantNote {
			t.Errorf("%s: %q, %q, %v; want %q, %q", tc.topic, sub, note, err, tc.wantSub, tc.wantNote)
		}
	}
}
