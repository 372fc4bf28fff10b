// Package aws holds the SAM deployment's tests: the template passes cfn-lint
// and the Makefile that `sam build` runs produces the arm64 bootstrap.
package aws

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/geminiwebhooks/receiver/adapters/lambda"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
)

func TestTemplatePassesCfnLint(t *testing.T) {
	lint, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Fatal("cfn-lint not found: it validates the SAM template offline (pip install cfn-lint)")
	}
	good, err := os.ReadFile("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The same run must catch broken copies, or passing proves nothing. One
	// cfn-lint process for all files: its start-up dominates the time.
	dir := t.TempDir()
	files := []string{"template.yaml"}
	broken := map[string][2]string{
		"unknown-runtime.yaml":    {"Runtime: provided.al2023", "Runtime: provided.al2099"},
		"dangling-log-group.yaml": {"LogGroup: !Ref GeminiWebhookLogGroup", "LogGroup: !Ref NoSuchLogGroup"},
		"bad-concurrency.yaml":    {"ReservedConcurrentExecutions: !Ref ReservedConcurrency", "ReservedConcurrentExecutions: lots"},
		"unknown-auth-type.yaml":  {"AuthType: NONE", "AuthType: OPEN"},
		// The queue and its worker.
		"visibility-under-timeout.yaml": {"VisibilityTimeout: 1800", "VisibilityTimeout: 100"},
		"unknown-response-type.yaml":    {"FunctionResponseTypes: [ReportBatchItemFailures]", "FunctionResponseTypes: [ReportItemFailures]"},
		"dangling-dead-letter.yaml":     {"deadLetterTargetArn: !GetAtt TaskDeadLetterQueue.Arn", "deadLetterTargetArn: !GetAtt NoSuchQueue.Arn"},
		// IdempotencyStore=dynamodb: cfn-lint follows both values of the condition.
		"table-with-firestore.yaml":    {"DYNAMODB_TABLE: !If [UseDynamoDB, !Ref IdempotencyTable, !Ref AWS::NoValue]", "DYNAMODB_TABLE: !Ref IdempotencyTable"},
		"provisioned-no-capacity.yaml": {"BillingMode: PAY_PER_REQUEST", "BillingMode: PROVISIONED"},
		"throttle-metric-no-bool.yaml": {"ReturnData: false", "ReturnData: sometimes"},
	}
	for name, edit := range broken {
		if !bytes.Contains(good, []byte(edit[0])) {
			t.Fatalf("%s: template no longer contains %q", name, edit[0])
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, bytes.Replace(good, []byte(edit[0]), []byte(edit[1]), 1), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, path)
	}
	// Each finding is a message line followed by "path:line:column".
	out, _ := exec.Command(lint, files...).CombinedOutput()
	report := string(out)
	for _, line := range strings.Split(report, "\n") {
		if strings.HasPrefix(line, "template.yaml:") {
			t.Errorf("cfn-lint finds a problem in template.yaml at %s", line)
		}
	}
	for name := range broken {
		if !strings.Contains(report, filepath.Join(dir, name)+":") {
			t.Errorf("%s: cfn-lint passed a broken template", name)
		}
	}
	if t.Failed() {
		t.Logf("cfn-lint output:\n%s", report)
	}
}

// TestMakefileBuildsArm64Bootstrap runs the Makefile target as sam build
// does: from a scratch directory, with --makefile naming the original file,
// ARTIFACTS_DIR set and the environment of the shell sam was started from
// (its PWD); once for this repository's functions/lambda, then for a user's
// own module's main package (LAMBDA_PACKAGE) absolute from an unrelated
// folder and relative from the module's folder and from a folder beside it.
func TestMakefileBuildsArm64Bootstrap(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skips the linux/arm64 build (minutes of compiling with a cold build cache)")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("make not found: sam's makefile build method needs it")
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	user := filepath.Join(tmp, "usermod")
	if err := testenv.WriteUserModule(user, root); err != nil {
		t.Fatal(err)
	}
	beside := filepath.Join(tmp, "ops")
	if err := os.MkdirAll(beside, 0o755); err != nil {
		t.Fatal(err)
	}
	userMain := testenv.UserModulePath + "/lambda"
	for _, c := range []struct {
		name, caller, pkg, mainPath string
	}{
		{"this repository's bootstrap", root, "", "github.com/geminiwebhooks/receiver/functions/lambda"},
		{"the user's main, absolute, from another folder", beside, filepath.Join(user, "lambda"), userMain},
		{"the user's main, relative, from the module", user, "./lambda", userMain},
		{"the user's main, relative, from a folder beside it", beside, "../usermod/lambda", userMain},
	} {
		t.Run(c.name, func(t *testing.T) {
			artifacts := filepath.Join(t.TempDir(), "GeminiWebhookFunction")
			if out, err := makeAsSAM(t, c.caller, c.pkg, artifacts); err != nil {
				t.Fatalf("make build-GeminiWebhookFunction: %v\n%s", err, out)
			}
			checkBootstrap(t, filepath.Join(artifacts, "bootstrap"), c.mainPath)
		})
	}
	// A folder that is not there is named, as given and as resolved.
	out, err := makeAsSAM(t, user, "./cmd/bootstrap", filepath.Join(t.TempDir(), "GeminiWebhookFunction"))
	if err == nil || !strings.Contains(out, "LAMBDA_PACKAGE ./cmd/bootstrap: no such folder ("+filepath.Join(user, "cmd", "bootstrap")+")") {
		t.Errorf("a missing LAMBDA_PACKAGE: %v\n%s", err, out)
	}
}

// makeAsSAM runs build-GeminiWebhookFunction as sam build does
// (testenv.MakeAsSAM), with this folder's Makefile.
func makeAsSAM(t *testing.T, caller, pkg, artifacts string) (string, error) {
	t.Helper()
	makefile, err := filepath.Abs("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	return testenv.MakeAsSAM(makefile, "build-GeminiWebhookFunction", caller, pkg, artifacts)
}

// checkBootstrap asserts bin is a static linux/arm64 ELF built from
// mainPath with -tags lambda.norpc, and logs its size.
func checkBootstrap(t *testing.T, bin, mainPath string) {
	t.Helper()
	if err := testenv.CheckBootstrap(bin, mainPath); err != nil {
		t.Error(err)
	}
	if info, err := os.Stat(bin); err == nil {
		t.Logf("linux/arm64 bootstrap of %s: %d bytes (%.1f MiB)", mainPath, info.Size(), float64(info.Size())/(1<<20))
	}
}

// TestQueueAndWorker checks what cfn-lint does not: the queue hides a
// message for six times the worker's timeout (AWS's advice for Lambda event
// sources), the worker reports batch item failures and has a dead-letter
// queue behind it, the receiver may only send to the queue, and the worker
// builds from the same Makefile recipe as the receiver.
func TestQueueAndWorker(t *testing.T) {
	b, err := os.ReadFile("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tpl := string(b)
	section := func(name string) string {
		i := strings.Index(tpl, "\n  "+name+":\n")
		if i < 0 {
			t.Fatalf("no resource %s", name)
		}
		rest := tpl[i+len(name)+4:]
		if j := regexp.MustCompile(`\n  [A-Za-z]+:\n`).FindStringIndex(rest); j != nil {
			rest = rest[:j[0]]
		}
		return rest
	}
	number := func(block, key string) int {
		m := regexp.MustCompile(`(?m)^\s+` + key + `: (\d+)`).FindStringSubmatch(block)
		if m == nil {
			t.Fatalf("no %s in:\n%s", key, block)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	queue, worker, receiverRole := section("TaskQueue"), section("GeminiWorkerFunction"), section("GeminiWebhookRole")
	if vis, timeout := number(queue, "VisibilityTimeout"), number(worker, "Timeout"); vis < 6*timeout {
		t.Errorf("queue visibility %d s < 6 × worker timeout %d s", vis, timeout)
	}
	for _, want := range []string{"deadLetterTargetArn: !GetAtt TaskDeadLetterQueue.Arn", "maxReceiveCount: !Ref MaxReceiveCount"} {
		if !strings.Contains(queue, want) {
			t.Errorf("TaskQueue lacks %q", want)
		}
	}
	for _, want := range []string{"Queue: !GetAtt TaskQueue.Arn", "FunctionResponseTypes: [ReportBatchItemFailures]", "CodeUri: .", "Handler: bootstrap", "BuildMethod: makefile"} {
		if !strings.Contains(worker, want) {
			t.Errorf("GeminiWorkerFunction lacks %q", want)
		}
	}
	if strings.Contains(worker, "SIGNING_SECRET") {
		t.Error("the worker is given the signing secret")
	}
	if !strings.Contains(section("GeminiWebhookFunction"), `QUEUE: !Sub "sqs:${TaskQueue}"`) {
		t.Error("the receiver is not given QUEUE=sqs:<the queue's URL>")
	}
	if !regexp.MustCompile(`Action: sqs:SendMessage\s+Resource: !GetAtt TaskQueue.Arn`).MatchString(receiverRole) || strings.Count(receiverRole, "sqs:") != 1 {
		t.Errorf("the receiver's role should allow sqs:SendMessage on TaskQueue only:\n%s", receiverRole)
	}
	mk, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mk), "build-GeminiWebhookFunction build-GeminiWorkerFunction:") {
		t.Error("the Makefile has no shared target for the worker")
	}
}

// TestReconcileSchedule: the worker (the function holding the Gemini API
// key) is invoked every 15 minutes by EventBridge Scheduler, with an input
// the bootstrap recognises by its shape as a scheduled event; the schedule is
// on only with a Gemini API key, and the worker knows the receiver's URL.
func TestReconcileSchedule(t *testing.T) {
	b, err := os.ReadFile("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tpl := string(b)
	i := strings.Index(tpl, "\n  GeminiWorkerFunction:\n")
	j := strings.Index(tpl, "\n  GeminiWorkerLogGroup:\n")
	if i < 0 || j < i {
		t.Fatal("no GeminiWorkerFunction")
	}
	worker := tpl[i:j]
	for _, want := range []string{
		"Type: ScheduleV2", "ScheduleExpression: rate(15 minutes)", "State: !If [HasGeminiApiKey, ENABLED, DISABLED]",
		"RECEIVER_URL: !GetAtt GeminiWebhookFunctionUrl.FunctionUrl", "MaximumRetryAttempts: 0",
	} {
		if !strings.Contains(worker, want) {
			t.Errorf("GeminiWorkerFunction lacks %q", want)
		}
	}
	m := regexp.MustCompile(`(?m)^\s+Input: '(.*)'$`).FindStringSubmatch(worker)
	if m == nil {
		t.Fatal("the schedule has no Input")
	}
	if k, err := lambda.DetectKind([]byte(m[1])); k != lambda.KindSchedule || err != nil {
		t.Fatalf("the schedule's input %s is %v (%v) to the bootstrap, want a scheduled event", m[1], k, err)
	}
}
