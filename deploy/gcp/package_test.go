package gcp_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/scripts/simulator/gemini"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
)

// TestDryRunUserPackage deploys a user's own module (its own go.mod,
// requiring this one by a relative replace) with --package: the staged
// source holds the user's package and a vendor/ with this receiver, builds
// like the buildpack with the user's module moved away and no proxy, and
// serves the user's handlers.
func TestDryRunUserPackage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the staged function from vendor/ (minutes on a cold build cache)")
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
	rel, err := filepath.Rel(user, root)
	if err != nil {
		t.Fatal(err)
	}
	edit := exec.Command("go", "mod", "edit", "-replace=github.com/geminiwebhooks/receiver="+rel)
	edit.Dir = user
	if out, err := edit.CombinedOutput(); err != nil {
		t.Fatalf("go mod edit: %v\n%s", err, out)
	}

	stage := filepath.Join(tmp, "stage", "source")
	secret := gemini.NewSecret()
	r := runDeploy(t, root, map[string]string{
		"GOOGLE_CLOUD_PROJECT": fakeProject, "REGION": fakeRegion, "STAGE_DIR": stage, "WEBHOOK_SIGNING_SECRET": secret,
	}, "--dry-run", "--package", filepath.Join(user, "gcf"))
	if r.err != nil {
		t.Fatalf("deploy.sh --dry-run --package: %v\nstdout:\n%s\nstderr:\n%s", r.err, r.stdout, r.stderr)
	}
	if got, want := commandLines(r.stdout), expectedCommands(fakeProject, fakeRegion, stage); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("dry-run commands differ from the default package's:\n%s", strings.Join(got, "\n"))
	}
	root1, err := os.ReadFile(filepath.Join(stage, "function.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(root1), `_ "example.com/usermod/gcf"`) {
		t.Fatalf("the generated root package does not import the user's package:\n%s", root1)
	}
	for _, p := range []string{"handlers/handlers.go", "gcf/fn.go", "vendor/github.com/geminiwebhooks/receiver/adapters/gcf"} {
		if _, err := os.Stat(filepath.Join(stage, p)); err != nil {
			t.Errorf("staged source lacks %s: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(stage, "lambda")); err == nil {
		t.Error("the staged source holds the user's Lambda main, which the function does not link")
	}

	// The user's module and the stage both go away: only the copy is built.
	src := filepath.Join(tmp, "workspace", "serverless_function_source_code")
	if err := copyTree(stage, src); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(tmp, "stage"), user} {
		if err := os.RemoveAll(d); err != nil {
			t.Fatal(err)
		}
	}
	checkBuildpackRules(t, src, "example.com/usermod/gcf")
	mainDir := filepath.Join(src, "functions.local", "app")
	if err := os.MkdirAll(mainDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mainDir, "main.go"), []byte(strings.ReplaceAll(buildpackMain, "{{.Package}}", goOut(t, src, "list", "-m"))), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(tmp, "bin", "main")
	goOut(t, src, "build", "-trimpath", "-o", bin, mainDir)

	log := filepath.Join(tmp, "runs.log")
	f := startFunction(t, bin, map[string]string{"IDEMPOTENCY_STORE": "memory", "WEBHOOK_SIGNING_SECRET": secret, "USERMOD_LOG": log})
	id := "msg_user_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if _, status, a := f.firstAnswer(t, secret, id); status != 200 || a.Outcome != "processed" {
		t.Fatalf("signed delivery: %d %q (%s), want 200 processed\n%s", status, a.Outcome, a.Reason, f.logs(t))
	}
	runs, err := os.ReadFile(log)
	if err != nil {
		t.Fatalf("the user's handlers did not run: %v\n%s", err, f.logs(t))
	}
	for _, want := range []string{"save " + id + " batches/proof not-landed\n", "audit " + id + " batches/proof \n"} {
		if !strings.Contains(string(runs), want) {
			t.Errorf("the user's handlers recorded:\n%s\nwant the line %q", runs, want)
		}
	}
}

// --package refuses what the buildpack or gcf.Register cannot serve, before
// staging anything.
func TestDryRunPackageMistakes(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ dir, want string }{
		{filepath.Join(root, "functions", "lambda"), "is a main package"},
		{filepath.Join(root, "core"), "does not import github.com/geminiwebhooks/receiver/adapters/gcf"},
		{filepath.Join(root, "no-such-dir"), "no such directory"},
	} {
		r := runDeploy(t, root, map[string]string{"GOOGLE_CLOUD_PROJECT": fakeProject, "REGION": fakeRegion, "STAGE_DIR": filepath.Join(t.TempDir(), "s")},
			"--dry-run", "--package", c.dir)
		if r.err == nil || !strings.Contains(r.stderr, c.want) {
			t.Errorf("--package %s: %v\n%s; want an error saying %q", c.dir, r.err, r.stderr, c.want)
		}
	}
}
