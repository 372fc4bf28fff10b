// Package gcp_test proves deploy/gcp/deploy.sh on the Go buildpack's terms:
// its --dry-run calls no cloud API and prints every command, and the
// --source folder it stages builds and serves on its own, offline, the way
// Cloud Build builds it (generated main, vendor/ only).
package gcp_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/gemini/geminitest"
	"github.com/geminiwebhooks/receiver/scripts/simulator/gemini"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
)

const (
	fakeProject = "fake-project-4711"
	fakeRegion  = "fake-region1"
)

type dryRun struct {
	stdout, stderr string
	err            error
	calls          string // what reached the fake gcloud
}

// runDeploy runs deploy.sh from the repository root with a clean cloud
// environment: only the variables given, a fake gcloud first on PATH, an
// empty gcloud config.
func runDeploy(t *testing.T, root string, env map[string]string, args ...string) dryRun {
	t.Helper()
	return runDeployIn(t, root, root, env, args...)
}

// runDeployIn is runDeploy from the folder dir, as a user runs it from
// their own module.
func runDeployIn(t *testing.T, dir, root string, env map[string]string, args ...string) dryRun {
	t.Helper()
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "gcloud"), []byte(testenv.FakeGcloud), 0o755); err != nil {
		t.Fatal(err)
	}
	var e []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "PATH", k == "GOOGLE_CLOUD_PROJECT", k == "REGION", k == "STAGE_DIR", k == "GOOGLE_APPLICATION_CREDENTIALS",
			strings.HasPrefix(k, "CLOUDSDK_"), strings.HasPrefix(k, "WEBHOOK_"), strings.HasPrefix(k, "FIRESTORE_"),
			strings.HasPrefix(k, "GCF_"), k == "SECRET_NAME", k == "SERVICE_ACCOUNT_NAME", k == "FUNCTION_SECRETS", k == "IDEMPOTENCY_TTL", k == "RESULTS_SINK", k == "FORWARD_URL",
			strings.HasPrefix(k, "WORKER_"), k == "PUBSUB_TOPIC", k == "DEAD_LETTER_TOPIC", k == "MAX_DELIVERY_ATTEMPTS", k == "PUBSUB_EMULATOR_HOST":
			continue
		}
		e = append(e, kv)
	}
	e = append(e, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"CLOUDSDK_CONFIG="+filepath.Join(tmp, "gcloud-config"))
	// The proxy stays on: vendoring fetches what a cold module cache lacks,
	// as it does on an operator's machine. What must not need the network is
	// the staged folder itself; the script checks that with GOPROXY=off, and
	// the buildpack-like build below (testenv.BuildStaged) runs with no proxy and an empty
	// module cache.
	for k, v := range env {
		e = append(e, k+"="+v)
	}
	cmd := exec.Command("bash", append([]string{filepath.Join(root, "deploy", "gcp", "deploy.sh")}, args...)...)
	cmd.Dir = dir
	cmd.Env = e
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	r := dryRun{err: cmd.Run(), stdout: stdout.String(), stderr: stderr.String()}
	if b, err := os.ReadFile(filepath.Join(bin, "gcloud-calls")); err == nil {
		r.calls = string(b)
	}
	return r
}

// expectedCommands are the lines a dry run prints, in order. keySecret is
// the Secret Manager secret FUNCTION_SECRETS gives as GEMINI_API_KEY, or ""
// (then GeminiReconcile and its schedule are left out: they cannot run).
func expectedCommands(project, region, source, keySecret string) []string {
	sa := "gemini-webhook-receiver@" + project + ".iam.gserviceaccount.com"
	scheduler := "gemini-webhook-scheduler@" + project + ".iam.gserviceaccount.com"
	receiverURL := "https://" + region + "-" + project + ".cloudfunctions.net/GeminiWebhook"
	reconcileURL := "https://" + region + "-" + project + ".cloudfunctions.net/GeminiReconcile"
	// Both functions read the same configuration; the receiver publishes to the topic.
	env := " '--set-env-vars=IDEMPOTENCY_STORE=firestore,GOOGLE_CLOUD_PROJECT=" + project + ",FIRESTORE_DATABASE=(default),FIRESTORE_COLLECTION=gemini_webhook_deliveries" +
		",QUEUE=pubsub:projects/" + project + "/topics/gemini-webhook-events'"
	// What a dry run cannot know: Eventarc's names, the project number.
	agent := "service-PROJECT_NUMBER@gcp-sa-pubsub.iam.gserviceaccount.com"
	const placeholders = "  # TRIGGER, EVENTARC_SUBSCRIPTION, PROJECT_NUMBER: what the describes above return"
	workerSecrets, keyAccess := " --clear-secrets", []string(nil)
	if keySecret != "" {
		workerSecrets = " --set-secrets=GEMINI_API_KEY=" + keySecret + ":latest"
		keyAccess = []string{
			"+ gcloud secrets describe " + keySecret + " --project=" + project + " '--format=value(name)'",
			"+ gcloud secrets add-iam-policy-binding " + keySecret + " --member=serviceAccount:" + sa + " --role=roles/secretmanager.secretAccessor --project=" + project + " --format=none",
		}
	}
	lines := []string{
		"+ gcloud services enable cloudfunctions.googleapis.com run.googleapis.com cloudbuild.googleapis.com artifactregistry.googleapis.com firestore.googleapis.com secretmanager.googleapis.com pubsub.googleapis.com eventarc.googleapis.com cloudscheduler.googleapis.com --project=" + project,
		"+ gcloud iam service-accounts describe " + sa + " --project=" + project + " '--format=value(email)'",
		"+ gcloud iam service-accounts create gemini-webhook-receiver '--display-name=Gemini webhook receiver' --project=" + project + "  # if the service account does not exist",
		"+ gcloud projects add-iam-policy-binding " + project + " --member=serviceAccount:" + sa + " --role=roles/datastore.user --condition=None --quiet --format=none",
		"+ gcloud firestore databases describe '--database=(default)' --project=" + project + " '--format=value(name)'",
		"+ gcloud firestore databases create '--database=(default)' --location=" + region + " --type=firestore-native --project=" + project + "  # if the database does not exist",
		"+ gcloud firestore fields ttls list --collection-group=gemini_webhook_deliveries '--database=(default)' --project=" + project + " '--format=value(name,ttlConfig.state)'",
		"+ gcloud firestore fields ttls update expireAt --collection-group=gemini_webhook_deliveries '--database=(default)' --enable-ttl --async --project=" + project + "  # if expireAt is not yet the TTL field",
		"+ gcloud secrets describe gemini-webhook-signing-secret --project=" + project + " '--format=value(name)'",
		"+ gcloud secrets create gemini-webhook-signing-secret --replication-policy=automatic --data-file=- --project=" + project + "  # if the secret does not exist; value: WEBHOOK_SIGNING_SECRET, on stdin",
		"+ gcloud secrets versions access latest --secret=gemini-webhook-signing-secret --project=" + project,
		"+ gcloud secrets versions add gemini-webhook-signing-secret --data-file=- --project=" + project + "  # if WEBHOOK_SIGNING_SECRET is set and differs from the latest version; value: WEBHOOK_SIGNING_SECRET, on stdin",
		"+ gcloud secrets add-iam-policy-binding gemini-webhook-signing-secret --member=serviceAccount:" + sa + " --role=roles/secretmanager.secretAccessor --project=" + project + " --format=none",
	}
	lines = append(lines, keyAccess...)
	lines = append(lines,
		"+ gcloud pubsub topics describe gemini-webhook-events --project="+project+" '--format=value(name)'",
		"+ gcloud pubsub topics create gemini-webhook-events --project="+project+"  # if the topic does not exist",
		"+ gcloud pubsub topics describe gemini-webhook-events-dead-letter --project="+project+" '--format=value(name)'",
		"+ gcloud pubsub topics create gemini-webhook-events-dead-letter --project="+project+"  # if the topic does not exist",
		"+ gcloud pubsub subscriptions describe gemini-webhook-events-dead-letter-sub --project="+project+" '--format=value(name)'",
		"+ gcloud pubsub subscriptions create gemini-webhook-events-dead-letter-sub --topic=gemini-webhook-events-dead-letter --message-retention-duration=7d --expiration-period=never --project="+project+"  # if the subscription does not exist",
		"+ gcloud pubsub topics add-iam-policy-binding gemini-webhook-events --member=serviceAccount:"+sa+" --role=roles/pubsub.publisher --project="+project+" --format=none",
		"+ gcloud functions deploy GeminiWorker --gen2 --runtime=go126 --region="+region+" --project="+project+
			" --source="+source+" --entry-point=GeminiWorker --trigger-topic=gemini-webhook-events --retry"+
			" --trigger-service-account="+sa+" --service-account="+sa+workerSecrets+env+
			" --concurrency=4 --cpu=1 --memory=1Gi --timeout=540s --min-instances=0 --max-instances=10 --quiet",
		"+ gcloud functions add-invoker-policy-binding GeminiWorker --region="+region+" --project="+project+" --member=serviceAccount:"+sa+" --format=none",
		"+ gcloud functions describe GeminiWorker --gen2 --region="+region+" --project="+project+" '--format=value(eventTrigger.trigger)'",
		"+ gcloud eventarc triggers describe TRIGGER --location="+region+" --project="+project+" '--format=value(transport.pubsub.subscription)'",
		"+ gcloud pubsub subscriptions update EVENTARC_SUBSCRIPTION --dead-letter-topic=projects/"+project+"/topics/gemini-webhook-events-dead-letter"+
			" --max-delivery-attempts=5 --min-retry-delay=10s --max-retry-delay=600s --project="+project+placeholders,
		"+ gcloud projects describe "+project+" '--format=value(projectNumber)'",
		"+ gcloud pubsub topics add-iam-policy-binding gemini-webhook-events-dead-letter --member=serviceAccount:"+agent+" --role=roles/pubsub.publisher --project="+project+" --format=none"+placeholders,
		"+ gcloud pubsub subscriptions add-iam-policy-binding EVENTARC_SUBSCRIPTION --member=serviceAccount:"+agent+" --role=roles/pubsub.subscriber --project="+project+" --format=none"+placeholders,
		"+ gcloud functions deploy GeminiWebhook --gen2 --runtime=go126 --region="+region+" --project="+project+
			" --source="+source+" --entry-point=GeminiWebhook --trigger-http --allow-unauthenticated"+
			" --service-account="+sa+" --set-secrets=WEBHOOK_SIGNING_SECRET=gemini-webhook-signing-secret:latest"+env+
			" --concurrency=80 --cpu=1 --memory=512Mi --timeout=60s --min-instances=0 --max-instances=10 --quiet",
		"+ gcloud functions describe GeminiWebhook --gen2 --region="+region+" --project="+project+" '--format=value(url)'",
	)
	if keySecret == "" {
		return append(lines, monitoringCommands(project, filepath.Join(filepath.Dir(source), "monitoring"))...)
	}
	lines = append(lines,
		// The reconcile: not public (Cloud Run IAM checks the caller's OIDC
		// token), the worker's secrets, the receiver's URL to check webhooks.
		"+ gcloud functions deploy GeminiReconcile --gen2 --runtime=go126 --region="+region+" --project="+project+
			" --source="+source+" --entry-point=GeminiReconcile --trigger-http --no-allow-unauthenticated"+
			" --service-account="+sa+workerSecrets+strings.TrimSuffix(env, "'")+",RECEIVER_URL="+receiverURL+"'"+
			" --concurrency=1 --cpu=1 --memory=1Gi --timeout=540s --min-instances=0 --max-instances=1 --quiet",
		"+ gcloud functions describe GeminiReconcile --gen2 --region="+region+" --project="+project+" '--format=value(url)'",
		"+ gcloud iam service-accounts describe "+scheduler+" --project="+project+" '--format=value(email)'",
		"+ gcloud iam service-accounts create gemini-webhook-scheduler '--display-name=Gemini webhook reconcile scheduler' --project="+project+"  # if the service account does not exist",
		// roles/run.invoker on this one function, for the scheduler's identity only.
		"+ gcloud functions add-invoker-policy-binding GeminiReconcile --region="+region+" --project="+project+" --member=serviceAccount:"+scheduler+" --format=none",
		"+ gcloud scheduler jobs describe gemini-webhook-reconcile --location="+region+" --project="+project+" '--format=value(name)'",
		"+ gcloud scheduler jobs create http gemini-webhook-reconcile --location="+region+" --project="+project+" '--schedule=*/15 * * * *'"+
			" --uri="+reconcileURL+" --http-method=POST --oidc-service-account-email="+scheduler+" --oidc-token-audience="+reconcileURL+
			" --attempt-deadline=600s --quiet  # if the job does not exist (else: gcloud scheduler jobs update http with the same flags)",
	)
	return append(lines, monitoringCommands(project, filepath.Join(filepath.Dir(source), "monitoring"))...)
}

// monitoringCommands are the dry run's last lines: the log-based metrics
// and the alert policies, each created when absent (updated otherwise)
// from a file in dir.
func monitoringCommands(project, dir string) []string {
	lines := []string{"+ gcloud services enable logging.googleapis.com monitoring.googleapis.com --project=" + project}
	for _, m := range []string{"deliveries", "latency", "landed_bytes", "landing_failures", "dead_letters", "misconfigured"} {
		name := "gemini_webhook_" + m
		lines = append(lines,
			"+ gcloud logging metrics describe "+name+" --project="+project+" '--format=value(name)'",
			"+ gcloud logging metrics create "+name+" --config-from-file="+filepath.Join(dir, "metric-"+name+".yaml")+" --project="+project+
				"  # if the metric does not exist; later runs update it from the same file")
	}
	for _, p := range []struct{ file, display string }{
		{"dead-letters", "Gemini webhooks: dead letters waiting (gemini-webhook-events-dead-letter-sub)"},
		{"bursts", "Gemini webhooks: failed or rejected deliveries"},
		{"misconfigured", "Gemini webhooks: function misconfigured"},
	} {
		lines = append(lines,
			"+ gcloud alpha monitoring policies list --project="+project+" '--filter=displayName=\""+p.display+"\"' '--format=value(name)'",
			"+ gcloud alpha monitoring policies create --policy-from-file="+filepath.Join(dir, "policy-"+p.file+".yaml")+" --project="+project+
				"  # if no policy has this displayName; later runs update it")
	}
	return lines
}

func commandLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "+ ") {
			lines = append(lines, l)
		}
	}
	return lines
}

var sourceLine = regexp.MustCompile(`(?m)^--source folder \(left in place\): (.+)$`)

func TestDryRunArguments(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string // in stderr; "" means success
		wantOut string // in stdout
	}{
		{"no project", map[string]string{"REGION": fakeRegion}, []string{"--dry-run"}, "GOOGLE_CLOUD_PROJECT", ""},
		{"no region", map[string]string{"GOOGLE_CLOUD_PROJECT": fakeProject}, []string{"--dry-run"}, "REGION", ""},
		{"unknown flag", map[string]string{"GOOGLE_CLOUD_PROJECT": fakeProject, "REGION": fakeRegion}, []string{"--dry-run", "--yes"}, "unknown argument --yes", ""},
		{"secret that is not whsec_", map[string]string{"GOOGLE_CLOUD_PROJECT": fakeProject, "REGION": fakeRegion, "WEBHOOK_SIGNING_SECRET": "hunter2"}, []string{"--dry-run"}, "whsec_", ""},
		{"env value with a comma", map[string]string{"GOOGLE_CLOUD_PROJECT": fakeProject, "REGION": fakeRegion, "WEBHOOK_AUDIENCE": "a,b", "STAGE_DIR": filepath.Join(t.TempDir(), "s")}, []string{"--dry-run"}, "WEBHOOK_AUDIENCE contains ','", ""},
		{"bad FUNCTION_SECRETS", map[string]string{"GOOGLE_CLOUD_PROJECT": fakeProject, "REGION": fakeRegion, "FUNCTION_SECRETS": "GEMINI_API_KEY"}, []string{"--dry-run"}, "is not VAR=secret-name", ""},
		{"too few delivery attempts", map[string]string{"GOOGLE_CLOUD_PROJECT": fakeProject, "REGION": fakeRegion, "MAX_DELIVERY_ATTEMPTS": "3"}, []string{"--dry-run"}, "Pub/Sub takes 5 to 100", ""},
		{"bad topic id", map[string]string{"GOOGLE_CLOUD_PROJECT": fakeProject, "REGION": fakeRegion, "PUBSUB_TOPIC": "goog-events"}, []string{"--dry-run"}, "is not a Pub/Sub topic id", ""},
		{"sink of the other cloud", map[string]string{"GOOGLE_CLOUD_PROJECT": fakeProject, "REGION": fakeRegion, "RESULTS_SINK": "s3://bucket/p"}, []string{"--dry-run"}, "RESULTS_SINK s3://bucket/p: s3:// is the AWS deployment's sink", ""},
		{"sink of no known scheme", map[string]string{"GOOGLE_CLOUD_PROJECT": fakeProject, "REGION": fakeRegion, "RESULTS_SINK": "ftp://x"}, []string{"--dry-run"}, "RESULTS_SINK ftp://x: unknown scheme", ""},
		{"sink that is a folder", map[string]string{"GOOGLE_CLOUD_PROJECT": fakeProject, "REGION": fakeRegion, "RESULTS_SINK": "results"}, []string{"--dry-run"}, "gs://BUCKET[/PREFIX]", ""},
		{"bad burst threshold", map[string]string{"GOOGLE_CLOUD_PROJECT": fakeProject, "REGION": fakeRegion, "REJECTED_BURST_THRESHOLD": "many"}, []string{"--dry-run"}, "REJECTED_BURST_THRESHOLD many", ""},
		{"bad alert channel", map[string]string{"GOOGLE_CLOUD_PROJECT": fakeProject, "REGION": fakeRegion, "ALERT_CHANNELS": "me@example.com"}, []string{"--dry-run"}, "is not projects/P/notificationChannels/ID", ""},
		{"stage folder not writable", map[string]string{"GOOGLE_CLOUD_PROJECT": fakeProject, "REGION": fakeRegion, "STAGE_DIR": "/proc/no-such-folder/source"}, []string{"--dry-run"},
			"STAGE_DIR /proc/no-such-folder/source: cannot (re)create it; set STAGE_DIR to a writable folder", ""},
		{"help", nil, []string{"--help"}, "", "deploy/gcp/deploy.sh [--dry-run] [--project P] [--region R]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runDeploy(t, root, c.env, c.args...)
			if r.calls != "" {
				t.Errorf("gcloud was called:\n%s", r.calls)
			}
			if c.wantErr == "" {
				if r.err != nil || !strings.Contains(r.stdout, c.wantOut) {
					t.Fatalf("err %v, want stdout with %q; stdout:\n%s\nstderr:\n%s", r.err, c.wantOut, r.stdout, r.stderr)
				}
				return
			}
			if r.err == nil || !strings.Contains(r.stderr, c.wantErr) {
				t.Fatalf("want failure mentioning %q; err %v, stderr:\n%s", c.wantErr, r.err, r.stderr)
			}
		})
	}
}

// TestDryRunFlagsOverrideEnvironment: --project and --region win over
// GOOGLE_CLOUD_PROJECT and REGION, and pass-through settings reach the function.
func TestDryRunFlagsOverrideEnvironment(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	stage := filepath.Join(t.TempDir(), "source")
	r := runDeploy(t, root, map[string]string{
		"GOOGLE_CLOUD_PROJECT": fakeProject, "REGION": fakeRegion, "STAGE_DIR": stage,
		"WEBHOOK_AUDIENCE": "https://hooks.example.com/gemini", "GCF_MAX_INSTANCES": "3",
		"FUNCTION_SECRETS": "GEMINI_API_KEY=gemini-api-key,SLACK_WEBHOOK_URL=slack-url", "RESULTS_SINK": "gs://results-bucket/gemini",
		"PUBSUB_TOPIC": "hooks", "MAX_DELIVERY_ATTEMPTS": "12", "WORKER_MEMORY": "2Gi",
	}, "--dry-run", "--project", "flag-project", "--region=flag-region")
	if r.err != nil || r.calls != "" {
		t.Fatalf("err %v, gcloud calls %q\n%s", r.err, r.calls, r.stderr)
	}
	var deploy, worker string
	for _, l := range commandLines(r.stdout) {
		if strings.HasPrefix(l, "+ gcloud functions deploy GeminiWebhook ") {
			deploy = l
		}
		if strings.HasPrefix(l, "+ gcloud functions deploy GeminiWorker ") {
			worker = l
		}
	}
	env := []string{"--project=flag-project", "--region=flag-region", "GOOGLE_CLOUD_PROJECT=flag-project,",
		",QUEUE=pubsub:projects/flag-project/topics/hooks,WEBHOOK_AUDIENCE=https://hooks.example.com/gemini,RESULTS_SINK=gs://results-bucket/gemini'"}
	// The receiver reads only the signing secret; the worker only the others.
	for _, want := range append(env, "--max-instances=3 ", " --set-secrets=WEBHOOK_SIGNING_SECRET=gemini-webhook-signing-secret:latest '--set-env-vars") {
		if !strings.Contains(deploy, want) {
			t.Errorf("receiver deploy command lacks %q:\n%s", want, deploy)
		}
	}
	for _, want := range append(env, "--memory=2Gi ", " --trigger-topic=hooks --retry ", " --set-secrets=GEMINI_API_KEY=gemini-api-key:latest,SLACK_WEBHOOK_URL=slack-url:latest '--set-env-vars") {
		if !strings.Contains(worker, want) {
			t.Errorf("worker deploy command lacks %q:\n%s", want, worker)
		}
	}
	for _, want := range []string{
		"+ gcloud pubsub topics create hooks-dead-letter --project=flag-project  # if the topic does not exist",
		"+ gcloud pubsub subscriptions update EVENTARC_SUBSCRIPTION --dead-letter-topic=projects/flag-project/topics/hooks-dead-letter --max-delivery-attempts=12 ",
	} {
		if !strings.Contains(r.stdout, "\n"+want) {
			t.Errorf("no line %q in:\n%s", want, r.stdout)
		}
	}
	// Least privilege follows: each extra secret and the sink's bucket, nothing wider.
	sa := "--member=serviceAccount:gemini-webhook-receiver@flag-project.iam.gserviceaccount.com"
	for _, want := range []string{
		"+ gcloud secrets add-iam-policy-binding gemini-api-key " + sa + " --role=roles/secretmanager.secretAccessor --project=flag-project --format=none",
		"+ gcloud secrets add-iam-policy-binding slack-url " + sa + " --role=roles/secretmanager.secretAccessor --project=flag-project --format=none",
		"+ gcloud storage buckets add-iam-policy-binding gs://results-bucket " + sa + " --role=roles/storage.objectUser --format=none",
	} {
		if !strings.Contains(r.stdout, "\n"+want+"\n") {
			t.Errorf("no line %q in:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, fakeProject) || strings.Contains(r.stdout, fakeRegion) {
		t.Errorf("the environment's project or region leaked past the flags:\n%s", r.stdout)
	}
}

// TestDryRunSourceBuildsLikeTheBuildpack is the proof.
func TestDryRunSourceBuildsLikeTheBuildpack(t *testing.T) {
	root := buildpackTest(t)
	tmp := t.TempDir()
	secret := gemini.NewSecret()

	// 1. The dry run: no gcloud call, every command printed, the folder named.
	stage := filepath.Join(tmp, "stage", "source")
	r := runDeploy(t, root, map[string]string{
		"GOOGLE_CLOUD_PROJECT": fakeProject, "REGION": fakeRegion, "STAGE_DIR": stage,
		"WEBHOOK_SIGNING_SECRET": secret, "FUNCTION_SECRETS": "GEMINI_API_KEY=gemini-api-key",
	}, "--dry-run")
	if r.err != nil {
		t.Fatalf("deploy.sh --dry-run: %v\nstdout:\n%s\nstderr:\n%s", r.err, r.stdout, r.stderr)
	}
	if r.calls != "" {
		t.Fatalf("a dry run called gcloud:\n%s", r.calls)
	}
	if strings.Contains(r.stdout+r.stderr, secret[len("whsec_"):]) {
		t.Fatal("the dry run printed the signing secret")
	}
	got, want := commandLines(r.stdout), expectedCommands(fakeProject, fakeRegion, stage, "gemini-api-key")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("dry-run commands:\n%s\n\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, l := range got {
		if strings.Contains(l, "deploy GeminiReconcile") && strings.Contains(l, " --allow-unauthenticated") {
			t.Fatalf("GeminiReconcile deployed public: %s", l)
		}
		if strings.Contains(l, "add-invoker-policy-binding GeminiReconcile") && !strings.Contains(l, "--member=serviceAccount:gemini-webhook-scheduler@") {
			t.Fatalf("GeminiReconcile invokable by another identity: %s", l)
		}
	}
	m := sourceLine.FindStringSubmatch(r.stdout)
	if m == nil || m[1] != stage {
		t.Fatalf("the dry run does not name the --source folder %s:\n%s", stage, r.stdout)
	}
	if !strings.Contains(r.stdout, "\n  go tool gemini-webhooks create --if-absent --uri https://"+fakeRegion+"-"+fakeProject+".cloudfunctions.net/GeminiWebhook --events ") {
		t.Errorf("no next step registering the URL with Gemini:\n%s", r.stdout)
	}

	// 2. The folder alone, moved where the buildpack moves it, and built as
	// the buildpack builds it: its declarative main in a subfolder, from
	// vendor/ only, no proxy, an empty module cache.
	start := time.Now()
	_, bin, err := testenv.BuildStaged(stage, tmp, "github.com/geminiwebhooks/receiver/functions/gcp", []string{filepath.Join(tmp, "stage")})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built the staged function in %s; binary %d bytes (%.1f MiB)", time.Since(start).Round(time.Millisecond), fi.Size(), float64(fi.Size())/(1<<20))

	t.Run("memory store", func(t *testing.T) {
		f := startFunction(t, bin, map[string]string{"IDEMPOTENCY_STORE": "memory", "WEBHOOK_SIGNING_SECRET": secret})
		id := "msg_" + strconv.FormatInt(time.Now().UnixNano(), 36)
		ttfb, status, a := f.firstAnswer(t, secret, id)
		if status != 200 || a.Outcome != "processed" {
			t.Fatalf("first signed delivery: %d %q (%s), want 200 processed", status, a.Outcome, a.Reason)
		}
		t.Logf("process start → first 2xx: %s", ttfb.Round(100*time.Microsecond))
		now := time.Now().Unix()
		steps := []struct {
			name    string
			d       delivery
			status  int
			outcome string
		}{
			{"retry of the delivery", delivery{id: id, ts: now, body: testEvent}, 200, "duplicate"},
			{"tampered body", delivery{id: "msg_t", ts: now, body: testEvent, sigBody: testEvent + " "}, 401, "rejected"},
			{"other secret", delivery{id: "msg_o", ts: now, body: testEvent, secret: gemini.NewSecret()}, 401, "rejected"},
			{"no webhook headers", delivery{body: testEvent, bare: true}, 400, "rejected"},
			{"GET", delivery{method: http.MethodGet, bare: true}, 405, "rejected"},
		}
		for _, s := range steps {
			status, a := f.send(t, s.d, secret)
			if status != s.status || a.Outcome != s.outcome {
				t.Errorf("%s: %d %q (%s), want %d %q", s.name, status, a.Outcome, a.Reason, s.status, s.outcome)
			}
		}
		logs := f.logs(t)
		if strings.Contains(logs, secret[len("whsec_"):]) {
			t.Error("the function logged the signing secret")
		}
		if !hasLogLine(logs, map[string]any{"message": "delivery", "severity": "INFO", "webhook_id": id, "outcome": "processed", "status": 200.0}) {
			t.Errorf("no JSON log line for the processed delivery:\n%s", logs)
		}
	})

	// The same source serves GeminiWorker: a CloudEvent as Eventarc sends
	// it (binary mode) is processed, and a poison one kept and acknowledged.
	t.Run("GeminiWorker", func(t *testing.T) {
		f := startFunction(t, bin, map[string]string{"FUNCTION_TARGET": "GeminiWorker", "K_SERVICE": "GeminiWorker", "IDEMPOTENCY_STORE": "memory"})
		for i, c := range []struct{ id, data, outcome string }{
			{"msg_w1", `{"type":"batch.failed","version":"v1","data":{"id":"batches/w1","error_message":"x"}}`, "processed"},
			{"msg_w2", "not an event", "dead_letter"},
		} {
			body, _ := json.Marshal(map[string]any{"subscription": "projects/p/subscriptions/eventarc-sub", "message": map[string]any{
				"data": []byte(c.data), "attributes": map[string]string{"webhook_id": c.id, "scheme": "static"},
				"messageId": strconv.Itoa(i), "publishTime": time.Now().UTC().Format(time.RFC3339Nano)}})
			var status int
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				req, _ := http.NewRequest(http.MethodPost, f.url, bytes.NewReader(body))
				for k, v := range map[string]string{"ce-id": strconv.Itoa(i), "ce-source": "//pubsub.googleapis.com/projects/p/topics/t", "ce-specversion": "1.0",
					"ce-type": "google.cloud.pubsub.topic.v1.messagePublished", "Content-Type": "application/json"} {
					req.Header.Set(k, v)
				}
				resp, err := client.Do(req)
				if err == nil {
					resp.Body.Close()
					status = resp.StatusCode
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no answer: %v\n%s", err, f.logs(t))
				}
			}
			if status/100 != 2 {
				t.Errorf("%s: status %d, want 2xx (acknowledged)\n%s", c.id, status, f.logs(t))
			}
			if !hasLogLine(f.logs(t), map[string]any{"message": "task", "webhook_id": c.id, "outcome": c.outcome}) {
				t.Errorf("%s: no task line with outcome %s:\n%s", c.id, c.outcome, f.logs(t))
			}
		}
	})

	// And GeminiReconcile: a POST (what Cloud Scheduler sends) runs one
	// reconcile against the Gemini API stand-in; other methods run nothing.
	// An unauthenticated caller never reaches it: it is deployed without
	// --allow-unauthenticated (checked below and in expectedCommands).
	t.Run("GeminiReconcile", func(t *testing.T) {
		api := geminitest.New("k")
		defer api.Close()
		api.AddBatch("batches/gcp1", geminitest.Batch{State: "BATCH_STATE_CANCELLED"})
		f := startFunction(t, bin, map[string]string{"FUNCTION_TARGET": "GeminiReconcile", "K_SERVICE": "GeminiReconcile", "IDEMPOTENCY_STORE": "memory",
			"GEMINI_API_KEY": "k", "GOOGLE_GEMINI_BASE_URL": api.URL})
		for _, c := range []struct {
			method string
			status int
		}{{http.MethodGet, 405}, {http.MethodPost, 200}} {
			var resp *http.Response
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				req, _ := http.NewRequest(c.method, f.url, nil)
				var err error
				if resp, err = client.Do(req); err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no answer: %v\n%s", err, f.logs(t))
				}
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Fatalf("%s: %d %s, want %d\n%s", c.method, resp.StatusCode, b, c.status, f.logs(t))
			}
			if c.method == http.MethodPost && !bytes.Contains(b, []byte(`"Applied":1`)) {
				t.Fatalf("POST: summary %s, want one batch applied", b)
			}
		}
		if !hasLogLine(f.logs(t), map[string]any{"message": "reconcile summary", "applied": 1.0}) {
			t.Errorf("no reconcile summary line:\n%s", f.logs(t))
		}
	})

	t.Run("firestore emulator", func(t *testing.T) {
		ctx := context.Background()
		fs, err := testenv.StartFirestore(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(fs.Stop)
		// IDEMPOTENCY_STORE is unset: firestore is the function's default.
		env := map[string]string{"WEBHOOK_SIGNING_SECRET": secret, "GOOGLE_CLOUD_PROJECT": "gcp-deploy-proof", "FIRESTORE_EMULATOR_HOST": fs.Host}
		id := "msg_fs_" + strconv.FormatInt(time.Now().UnixNano(), 36)

		first := startFunction(t, bin, env)
		// A fresh emulator's first calls can outlast the store's 5 s deadline
		// (JIT warm-up); production Firestore is warm. Each try uses a new id:
		// a timed-out claim may still have been written.
		for i := 0; ; i++ {
			_, status, a := first.firstAnswer(t, secret, id+"_warmup"+strconv.Itoa(i))
			if status == 200 {
				break
			}
			if i == 5 {
				t.Fatalf("the emulator is not answering: %d %q (%s)\n%s", status, a.Outcome, a.Reason, first.logs(t))
			}
		}
		if status, a := first.send(t, delivery{id: id, ts: time.Now().Unix(), body: testEvent}, secret); status != 200 || a.Outcome != "processed" {
			t.Fatalf("signed delivery: %d %q (%s), want 200 processed\n%s", status, a.Outcome, a.Reason, first.logs(t))
		}
		first.stop()

		// A new instance: its first delivery is answered after two Firestore
		// round trips (claim, complete), and it knows what the first instance did.
		second := startFunction(t, bin, env)
		ttfb, status, a := second.firstAnswer(t, secret, id+"_second")
		if status != 200 || a.Outcome != "processed" {
			t.Fatalf("new delivery at a new instance: %d %q (%s), want 200 processed\n%s", status, a.Outcome, a.Reason, second.logs(t))
		}
		t.Logf("process start → first 2xx (Firestore emulator, warm): %s", ttfb.Round(100*time.Microsecond))
		if status, a := second.send(t, delivery{id: id, ts: time.Now().Unix(), body: testEvent}, secret); status != 200 || a.Outcome != "duplicate" {
			t.Errorf("the first instance's delivery at the new instance: %d %q (%s), want 200 duplicate", status, a.Outcome, a.Reason)
		}
		if status, a := second.send(t, delivery{id: "msg_fs_t", ts: time.Now().Unix(), body: testEvent, sigBody: "{}"}, secret); status != 401 {
			t.Errorf("tampered delivery: %d %q, want 401", status, a.Outcome)
		}
		if logs := second.logs(t); !hasLogLine(logs, map[string]any{"message": "GeminiWebhook ready", "store": "firestore"}) {
			t.Errorf("the function did not use the Firestore store:\n%s", logs)
		}
	})
}

// ---------------------------------------------------------------- the running function

type function struct {
	url   string
	cmd   *exec.Cmd
	start time.Time // just before the process was started
	log   string
	done  chan struct{}
}

// startFunction runs the built binary as Cloud Run does (FUNCTION_TARGET,
// K_SERVICE, PORT) with only the given environment besides.
func startFunction(t *testing.T, bin string, env map[string]string) *function {
	t.Helper()
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	logf := filepath.Join(t.TempDir(), "function.log")
	out, err := os.Create(logf)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), "FUNCTION_TARGET=GeminiWebhook",
		"K_SERVICE=GeminiWebhook", "PORT=" + strconv.Itoa(port)}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	f := &function{url: fmt.Sprintf("http://127.0.0.1:%d/", port), cmd: cmd, log: logf, done: make(chan struct{})}
	f.start = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); out.Close(); close(f.done) }()
	t.Cleanup(f.stop)
	return f
}

func (f *function) stop() {
	select {
	case <-f.done:
		return
	default:
	}
	_ = syscall.Kill(-f.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-f.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-f.cmd.Process.Pid, syscall.SIGKILL)
		<-f.done
	}
}

func (f *function) logs(t *testing.T) string {
	b, err := os.ReadFile(f.log)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// firstAnswer sends the signed delivery id until the function answers and
// returns the time from process start to that answer.
func (f *function) firstAnswer(t *testing.T, secret, id string) (time.Duration, int, answer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, a, err := f.try(delivery{id: id, ts: time.Now().Unix(), body: testEvent}, secret)
		if err == nil {
			return time.Since(f.start), status, a
		}
		select {
		case <-f.done:
			t.Fatalf("the function exited before answering:\n%s", f.logs(t))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer within 30s: %v\n%s", err, f.logs(t))
		}
		time.Sleep(time.Millisecond)
	}
}

func (f *function) send(t *testing.T, d delivery, secret string) (int, answer) {
	t.Helper()
	status, a, err := f.try(d, secret)
	if err != nil {
		t.Fatal(err)
	}
	return status, a
}

var client = &http.Client{Timeout: 10 * time.Second}

func (f *function) try(d delivery, secret string) (int, answer, error) {
	method := d.method
	if method == "" {
		method = http.MethodPost
	}
	req, err := http.NewRequest(method, f.url, strings.NewReader(d.body))
	if err != nil {
		return 0, answer{}, err
	}
	if !d.bare {
		key := secret
		if d.secret != "" {
			key = d.secret
		}
		signed := d.body
		if d.sigBody != "" {
			signed = d.sigBody
		}
		req.Header.Set("webhook-id", d.id)
		req.Header.Set("webhook-timestamp", strconv.FormatInt(d.ts, 10))
		req.Header.Set("webhook-signature", sign(key, d.id, d.ts, []byte(signed)))
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, answer{}, err
	}
	var a answer
	if err := json.Unmarshal(b, &a); err != nil {
		return resp.StatusCode, answer{}, fmt.Errorf("status %d, body %q: %w", resp.StatusCode, b, errors.Join(err, errNotJSON))
	}
	return resp.StatusCode, a, nil
}

var errNotJSON = errors.New("answer is not the receiver's JSON")

// ---------------------------------------------------------------- deliveries

const testEvent = `{"type":"batch.succeeded","version":"v1","timestamp":"2026-01-02T03:04:05Z","data":{"id":"batches/proof","output_file_uri":"files/out"}}`

type delivery struct {
	method  string
	id      string
	ts      int64
	body    string
	secret  string // sign with this instead of the function's secret
	sigBody string // sign these bytes instead of body (tampering)
	bare    bool   // no webhook headers
}

type answer struct {
	Outcome string `json:"outcome"`
	Reason  string `json:"reason"`
}

// sign is Standard Webhooks' v1 signature, from the simulator's signer
// (written independently of core).
func sign(secret, id string, ts int64, body []byte) string {
	sig, err := gemini.StaticSignature(secret, id, time.Unix(ts, 0), body)
	if err != nil {
		panic(err)
	}
	return sig
}

// hasLogLine reports whether some JSON line of logs has all of want.
func hasLogLine(logs string, want map[string]any) bool {
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
lines:
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		for k, v := range want {
			if m[k] != v {
				continue lines
			}
		}
		return true
	}
	return false
}

// TestDryRunReportsEveryProblem: one run names every mistake (before: the
// first only, one per run), and stages nothing.
func TestDryRunReportsEveryProblem(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	stage := filepath.Join(t.TempDir(), "source")
	r := runDeploy(t, root, map[string]string{
		"WEBHOOK_SIGNING_SECRET": "hunter2", "MAX_DELIVERY_ATTEMPTS": "3", "PUBSUB_TOPIC": "goog-events",
		"FUNCTION_SECRETS": "GEMINI_API_KEY", "RESULTS_SINK": "s3://b", "WEBHOOK_AUDIENCE": "a,b", "STAGE_DIR": stage,
	}, "--dry-run")
	if r.err == nil {
		t.Fatalf("the dry run succeeded:\n%s", r.stdout)
	}
	if r.calls != "" {
		t.Errorf("gcloud was called:\n%s", r.calls)
	}
	for _, want := range []string{"REGION", "GOOGLE_CLOUD_PROJECT", "WEBHOOK_SIGNING_SECRET", "MAX_DELIVERY_ATTEMPTS", "is not a Pub/Sub topic id",
		"FUNCTION_SECRETS", "RESULTS_SINK s3://b", "WEBHOOK_AUDIENCE contains ','", "9 problem(s)"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if _, err := os.Stat(stage); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the source was staged despite the problems (%v)", err)
	}
}

// TestDryRunSaysWhatLandsNothing: the default deployment records jobs but
// lands nothing, and says so with the commands that fix it (before: silence);
// with the key and a bucket there is no such note.
func TestDryRunSaysWhatLandsNothing(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		env      map[string]string
		want     []string
		wantNone bool
	}{
		{"default", nil, []string{"finished batches land nowhere", "no GEMINI_API_KEY", "RESULTS_SINK is unset",
			"gcloud secrets create gemini-api-key --data-file=- --project=" + fakeProject,
			"export FUNCTION_SECRETS=GEMINI_API_KEY=gemini-api-key RESULTS_SINK=gs://"}, false},
		{"key only", map[string]string{"FUNCTION_SECRETS": "GEMINI_API_KEY=k"}, []string{"finished batches land nowhere", "RESULTS_SINK is unset"}, false},
		{"sink only", map[string]string{"RESULTS_SINK": "gs://b/p"}, []string{"finished batches land nowhere", "no GEMINI_API_KEY"}, false},
		{"both", map[string]string{"FUNCTION_SECRETS": "GEMINI_API_KEY=k", "RESULTS_SINK": "gs://b/p"}, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := map[string]string{"GOOGLE_CLOUD_PROJECT": fakeProject, "REGION": fakeRegion, "STAGE_DIR": filepath.Join(t.TempDir(), "s")}
			for k, v := range c.env {
				e[k] = v
			}
			r := runDeploy(t, root, e, "--dry-run")
			if r.err != nil {
				t.Fatalf("dry run: %v\n%s", r.err, r.stderr)
			}
			for _, want := range c.want {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
				}
			}
			if c.wantNone && strings.Contains(r.stdout, "land nowhere") {
				t.Errorf("a note although the worker has the key and a bucket:\n%s", r.stdout)
			}
		})
	}
}

// TestDryRunDeploysReconcileOnlyWithKey: GeminiReconcile and its Cloud
// Scheduler job need the Gemini API key; without it in FUNCTION_SECRETS
// (before: deployed anyway, then every run refused to start) neither is
// deployed and the output says why, twice: where they would be, and in the
// closing note.
func TestDryRunDeploysReconcileOnlyWithKey(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	const why = "GeminiReconcile and its Cloud Scheduler job are not deployed: the reconcile needs the Gemini API key, and FUNCTION_SECRETS names no GEMINI_API_KEY"
	for _, c := range []struct {
		name, secrets string
		deployed      bool
	}{
		{"no FUNCTION_SECRETS", "", false},
		{"other secrets only", "SLACK_WEBHOOK_URL=slack-url", false},
		{"GEMINI_API_KEY", "GEMINI_API_KEY=gemini-api-key", true},
		{"GOOGLE_API_KEY, the SDK's other name", "GOOGLE_API_KEY=k,SLACK_WEBHOOK_URL=slack-url", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runDeploy(t, root, map[string]string{"GOOGLE_CLOUD_PROJECT": fakeProject, "REGION": fakeRegion,
				"STAGE_DIR": filepath.Join(t.TempDir(), "s"), "FUNCTION_SECRETS": c.secrets}, "--dry-run")
			if r.err != nil || r.calls != "" {
				t.Fatalf("err %v, gcloud calls %q\n%s", r.err, r.calls, r.stderr)
			}
			var reconcile []string
			for _, l := range commandLines(r.stdout) {
				if strings.Contains(l, "GeminiReconcile") || strings.Contains(l, "gemini-webhook-scheduler") || strings.Contains(l, "scheduler jobs") {
					reconcile = append(reconcile, l)
				}
			}
			if c.deployed {
				if len(reconcile) != 7 || strings.Contains(r.stdout, why) {
					t.Errorf("with the key: %d reconcile commands, want 7 and no note:\n%s", len(reconcile), r.stdout)
				}
				return
			}
			if len(reconcile) != 0 {
				t.Errorf("without the key the reconcile is still deployed:\n%s", strings.Join(reconcile, "\n"))
			}
			if !strings.Contains(r.stdout, "\n# "+why) || !strings.Contains(r.stdout, "\n  - "+why) {
				t.Errorf("the output does not say why the reconcile is left out:\n%s", r.stdout)
			}
		})
	}
}

// TestDryRunWritesMonitoring: the metric and policy files a dry run writes
// (and prints the commands for) count the delivery and task lines by
// outcome, alert on the dead-letter backlog, on failed / rejected bursts
// above the thresholds given and on the "misconfigured" ERROR line, and
// notify ALERT_CHANNELS.
func TestDryRunWritesMonitoring(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	r := runDeploy(t, root, map[string]string{
		"GOOGLE_CLOUD_PROJECT": fakeProject, "REGION": fakeRegion, "STAGE_DIR": filepath.Join(tmp, "source"),
		"FAILED_BURST_THRESHOLD": "7", "REJECTED_BURST_THRESHOLD": "33", "ALERT_CHANNELS": "projects/" + fakeProject + "/notificationChannels/42",
	}, "--dry-run")
	if r.err != nil || r.calls != "" {
		t.Fatalf("err %v, gcloud calls %q\n%s", r.err, r.calls, r.stderr)
	}
	dir := filepath.Join(tmp, "monitoring")
	if !strings.Contains(r.stdout, "metric and alert policy files: "+dir+"\n") {
		t.Errorf("the dry run does not name %s:\n%s", dir, r.stdout)
	}
	lines := `resource.type="cloud_run_revision" AND resource.labels.service_name=("geminiwebhook" OR "geminiworker")`
	cases := []struct {
		file string
		want []string
	}{
		{"metric-gemini_webhook_deliveries.yaml", []string{lines + ` AND jsonPayload.message=("delivery" OR "task")`, "outcome: EXTRACT(jsonPayload.outcome)", "valueType: INT64"}},
		{"metric-gemini_webhook_latency.yaml", []string{"valueExtractor: EXTRACT(jsonPayload.latency_ms)", "valueType: DISTRIBUTION", "unit: ms"}},
		{"metric-gemini_webhook_landed_bytes.yaml", []string{"valueExtractor: EXTRACT(jsonPayload.bytes)", "unit: By"}},
		{"metric-gemini_webhook_landing_failures.yaml", []string{"jsonPayload.landing_error:*"}},
		{"metric-gemini_webhook_dead_letters.yaml", []string{`jsonPayload.outcome="dead_letter"`}},
		{"metric-gemini_webhook_misconfigured.yaml", []string{`severity=ERROR AND jsonPayload.message:"misconfigured"`}},
		{"policy-dead-letters.yaml", []string{`resource.labels.subscription_id="gemini-webhook-events-dead-letter-sub"`, "subscription/num_undelivered_messages", "thresholdValue: 0", "- projects/" + fakeProject + "/notificationChannels/42"}},
		{"policy-bursts.yaml", []string{`metric.labels.outcome="failed"'`, "thresholdValue: 7\n", `metric.labels.outcome="rejected"'`, "thresholdValue: 33\n", "- projects/" + fakeProject + "/notificationChannels/42"}},
		{"policy-misconfigured.yaml", []string{`logging.googleapis.com/user/gemini_webhook_misconfigured"'`, "thresholdValue: 0"}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(dir, c.file))
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range c.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("%s lacks %q:\n%s", c.file, w, b)
				}
			}
			if !strings.Contains(r.stdout, filepath.Join(dir, c.file)+" --project="+fakeProject) {
				t.Errorf("no command applies %s", c.file)
			}
		})
	}
}
