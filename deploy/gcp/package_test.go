package gcp_test

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
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
	root := buildpackTest(t)
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
	if got, want := commandLines(r.stdout), expectedCommands(fakeProject, fakeRegion, stage, ""); strings.Join(got, "\n") != strings.Join(want, "\n") {
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

	log := filepath.Join(tmp, "runs.log")
	f := serveStaged(t, tmp, stage, "example.com/usermod/gcf", []string{user},
		map[string]string{"IDEMPOTENCY_STORE": "memory", "WEBHOOK_SIGNING_SECRET": secret, "USERMOD_LOG": log})
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
		{functionFolder(t, root), "top-level folder function/"},
	} {
		r := runDeploy(t, root, map[string]string{"GOOGLE_CLOUD_PROJECT": fakeProject, "REGION": fakeRegion, "STAGE_DIR": filepath.Join(t.TempDir(), "s")},
			"--dry-run", "--package", c.dir)
		if r.err == nil || !strings.Contains(r.stderr, c.want) {
			t.Errorf("--package %s: %v\n%s; want an error saying %q", c.dir, r.err, r.stderr, c.want)
		}
	}
}

// functionFolder writes minimalModule with its package in function/, the
// name of the staged root package, and returns that folder.
func functionFolder(t *testing.T, root string) string {
	t.Helper()
	user := filepath.Join(t.TempDir(), "m")
	for name, text := range minimalModule {
		name = strings.Replace(name, "fn/fn.go", "function/fn.go", 1)
		p := filepath.Join(user, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		text = strings.Replace(text, "package fn", "package function", 1)
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(text, "{{ROOT}}", root)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tidy := exec.Command("go", "mod", "tidy")
	tidy.Dir = user
	tidy.Env = append(os.Environ(), "GOWORK=off")
	if out, err := tidy.CombinedOutput(); err != nil {
		t.Fatalf("go mod tidy: %v\n%s", err, out)
	}
	return filepath.Join(user, "function")
}

// serveStaged does what Cloud Build and Cloud Run do with the staged
// folder (testenv.BuildStaged: the upload, the buildpack's rules, its
// generated main built from vendor/ alone with the folders in gone moved
// away, then removed for good), and starts the function with env. pkg is the
// package the root must import.
func serveStaged(t *testing.T, tmp, stage, pkg string, gone []string, env map[string]string) *function {
	t.Helper()
	_, bin, err := testenv.BuildStaged(stage, tmp, pkg, gone)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range gone {
		if err := os.RemoveAll(d); err != nil {
			t.Fatal(err)
		}
	}
	return startFunction(t, bin, env)
}

// minimalModule is a user's module as small as it gets: one package whose
// only imports of this repository are adapters/gcf and core (no
// funcframework, which the generated root package adds), and whose go.sum
// is what go mod tidy wrote for it alone.
var minimalModule = map[string]string{
	"go.mod": `module example.com/minimal

go 1.26.0

require github.com/geminiwebhooks/receiver v0.0.0-00010101000000-000000000000

replace github.com/geminiwebhooks/receiver => {{ROOT}}
`,
	"fn/fn.go": `// Package fn registers the user's handler with the Cloud Functions runtime.
package fn

import (
	"context"
	"fmt"
	"os"

	"github.com/geminiwebhooks/receiver/adapters/gcf"
	"github.com/geminiwebhooks/receiver/core"
)

func init() {
	gcf.Register(core.NewMux().On(core.BatchSucceeded, func(ctx context.Context, ev *core.Event) error {
		f, err := os.OpenFile(os.Getenv("MINIMAL_LOG"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = fmt.Fprintf(f, "handled %s %s\n", ev.Delivery.ID, ev.JobID())
		return err
	}))
}
`,
}

// TestDryRunMinimalUserModule deploys, with a relative --package from an
// unrelated folder, a user's module that never imported funcframework and
// whose go.sum came from go mod tidy alone. Before the staged copy was
// tidied, vendoring failed on the missing go.sum entry for
// cloud.google.com/go/functions/metadata (which funcframework imports). The
// user's files are left byte for byte as they were, and the staged source
// builds as the buildpack builds it and runs the user's handler.
func TestDryRunMinimalUserModule(t *testing.T) {
	root := buildpackTest(t)
	tmp := t.TempDir()
	user := filepath.Join(tmp, "minimal")
	for name, text := range minimalModule {
		p := filepath.Join(user, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(text, "{{ROOT}}", root)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tidy := exec.Command("go", "mod", "tidy")
	tidy.Dir = user
	tidy.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := tidy.CombinedOutput(); err != nil {
		t.Fatalf("go mod tidy in the user's module: %v\n%s", err, out)
	}
	// The case of the issue: nothing of the user's links funcframework, so
	// the tidied go.sum lacks what it needs.
	deps := exec.Command("go", "list", "-deps", "./...")
	deps.Dir = user
	deps.Env = append(os.Environ(), "GOWORK=off")
	out, err := deps.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	if strings.Contains(string(out), testenv.FunctionsFramework+"/funcframework\n") {
		t.Fatal("the user's module links funcframework: it does not test the case")
	}
	before := treeDigest(t, user)

	// From a folder of its own, with a relative --package.
	elsewhere := filepath.Join(tmp, "elsewhere", "deeper")
	if err := os.MkdirAll(elsewhere, 0o755); err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(elsewhere, filepath.Join(user, "fn"))
	if err != nil {
		t.Fatal(err)
	}
	stage := filepath.Join(tmp, "stage", "source")
	secret := gemini.NewSecret()
	r := runDeployIn(t, elsewhere, root, map[string]string{
		"GOOGLE_CLOUD_PROJECT": fakeProject, "REGION": fakeRegion, "STAGE_DIR": stage, "WEBHOOK_SIGNING_SECRET": secret,
	}, "--dry-run", "--package", rel)
	if r.err != nil {
		t.Fatalf("deploy.sh --dry-run --package %s (from %s): %v\nstdout:\n%s\nstderr:\n%s", rel, elsewhere, r.err, r.stdout, r.stderr)
	}
	if r.calls != "" {
		t.Fatalf("a dry run called gcloud:\n%s", r.calls)
	}
	if after := treeDigest(t, user); after != before {
		t.Fatalf("deploy.sh changed the user's module:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if _, err := os.Stat(filepath.Join(stage, "fn", "fn.go")); err != nil {
		t.Fatalf("the staged source lacks the user's package: %v", err)
	}

	log := filepath.Join(tmp, "runs.log")
	f := serveStaged(t, tmp, stage, "example.com/minimal/fn", []string{user},
		map[string]string{"IDEMPOTENCY_STORE": "memory", "WEBHOOK_SIGNING_SECRET": secret, "MINIMAL_LOG": log})
	id := "msg_minimal_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if _, status, a := f.firstAnswer(t, secret, id); status != 200 || a.Outcome != "processed" {
		t.Fatalf("signed delivery: %d %q (%s), want 200 processed\n%s", status, a.Outcome, a.Reason, f.logs(t))
	}
	runs, err := os.ReadFile(log)
	if err != nil {
		t.Fatalf("the user's handler did not run: %v\n%s", err, f.logs(t))
	}
	if want := "handled " + id + " batches/proof\n"; string(runs) != want {
		t.Errorf("the user's handler recorded %q, want %q", runs, want)
	}
}

// treeDigest lists every file under dir with its size and SHA-256.
func treeDigest(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(&b, "%s %d %x\n", rel, len(data), sha256.Sum256(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// buildpackTest skips under -short, since the test builds the staged
// function from vendor/ (minutes on a cold build cache), and returns the
// repository's root.
func buildpackTest(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the staged function from vendor/ (minutes on a cold build cache)")
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}
