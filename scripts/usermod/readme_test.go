package usermod_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/geminiwebhooks/receiver/adapters/gemini/geminitest"
	"github.com/geminiwebhooks/receiver/adapters/local"
	"github.com/geminiwebhooks/receiver/adapters/webhooktest"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
)

// readmeSection is the README section that is a whole user module.
const readmeSection = "## Your own module"

// block is a fenced code block of the README: its info string and text,
// and for a sh block, the text block that follows it (what its last
// command prints), if the next block is one.
type block struct {
	lang, text string
	output     *string
}

// section is the README's section: its code blocks in order and its prose.
type section struct {
	blocks []block
	prose  string
}

// readSection returns the README's section.
func readSection(t *testing.T, root string) section {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n"+readmeSection+"\n")
	if i < 0 {
		t.Fatalf("README.md has no %q section", readmeSection)
	}
	s = s[i+1+len(readmeSection):]
	if j := strings.Index(s, "\n## "); j >= 0 {
		s = s[:j]
	}
	var sec section
	var cur *block
	for _, l := range strings.Split(s, "\n") {
		switch {
		case cur == nil && strings.HasPrefix(l, "```"):
			cur = &block{lang: strings.TrimPrefix(l, "```")}
		case cur != nil && l == "```":
			sec.blocks = append(sec.blocks, *cur)
			cur = nil
		case cur != nil:
			cur.text += l + "\n"
		default:
			sec.prose += l + "\n"
		}
	}
	for i := 1; i < len(sec.blocks); i++ {
		if b := &sec.blocks[i]; b.lang == "text" && sec.blocks[i-1].lang == "sh" && !isPanic(b.text) {
			sec.blocks[i-1].output = &b.text
		}
	}
	return sec
}

// isPanic reports whether a text block is what a misspelt type prints.
func isPanic(text string) bool { return strings.HasPrefix(text, "panic: ") }

// fileHeader is the first line of a block that is a file of the module.
var fileHeader = regexp.MustCompile(`^// ([A-Za-z0-9_./-]+\.(?:go|mod))\n`)

// writeModule writes the section's go blocks into dir (the go.mod's replace
// pointing at root) and returns the module path and the files' names.
func writeModule(t *testing.T, sec section, dir, root string) (string, []string) {
	t.Helper()
	var files []string
	module := ""
	for _, b := range sec.blocks {
		if b.lang != "go" {
			continue
		}
		m := fileHeader.FindStringSubmatch(b.text)
		if m == nil {
			t.Fatalf("a go block of the section does not start with // FILE:\n%s", b.text)
		}
		text := b.text
		if m[1] == "go.mod" {
			re := regexp.MustCompile(`(?m)^replace github.com/geminiwebhooks/receiver => \S+$`)
			if !re.MatchString(text) {
				t.Fatalf("the README's go.mod has no replace of this module:\n%s", text)
			}
			text = re.ReplaceAllLiteralString(text, "replace github.com/geminiwebhooks/receiver => "+root)
			if mm := regexp.MustCompile(`(?m)^module (\S+)$`).FindStringSubmatch(text); mm != nil {
				module = mm[1]
			}
		}
		p := filepath.Join(dir, filepath.FromSlash(m[1]))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, filepath.FromSlash(m[1]))
	}
	if len(files) < 6 || module == "" {
		t.Fatalf("the section has %d files (module %q): want go.mod, handlers, their test and three entry points", len(files), module)
	}
	for _, f := range []string{"go.sum", "vendor"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Fatalf("%s exists before go mod tidy", f)
		}
	}
	return module, files
}

// The README's "Your own module" is a module that works, end to end as a
// user follows it: its files, written as the README shows them into a
// temporary folder (only the replace path is this checkout), pass their
// tests written with the test kit after `go mod tidy` alone; its commands,
// run as written from the module's folder, start the Gemini API stand-in
// and the user's local server, drive it with the simulator and land what
// the README says lands; a misspelt type is refused at start as the README
// shows; `deploy.sh --dry-run --package` stages a source that builds as the
// buildpack builds it and serves the user's handler; and `sam build` (the
// Makefile target, as sam runs it) builds the user's Lambda main, which
// answers a Function URL delivery under the Lambda RIE.
func TestReadmeModule(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds and runs the README's module")
	}
	began := time.Now()
	defer func() { t.Logf("TestReadmeModule ran %s", time.Since(began).Round(time.Second)) }()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	sec := readSection(t, root)
	dir := t.TempDir()
	sh := &shell{parent: t, dir: dir, hosts: map[string]string{}}
	sh.module, sh.files = writeModule(t, sec, dir, root)
	sh.env, sh.fakeBin = userShell(t)

	steps := 0
	for _, b := range sec.blocks {
		var name string
		var step func(t *testing.T)
		switch {
		case b.lang == "sh":
			name, step = sh.stepFor(b)
		case b.lang == "text" && isPanic(b.text):
			name, step = "a misspelt type panics at start", func(t *testing.T) { sh.typo(t, sec.prose, b.text) }
		default:
			continue
		}
		steps++
		sh.ran = append(sh.ran, name)
		if !t.Run(name, step) && steps == 1 {
			// The module does not build or test: nothing after can work.
			t.Fatalf("%s failed: the steps after it need it", name)
		}
	}
	if steps < 5 {
		t.Fatalf("the section has %d steps: want build and test, the local run, the typo, and the deploy on both clouds", steps)
	}
	for _, want := range []string{"local run", "misspelt", "deploy.sh", "sam build"} {
		if !slices.ContainsFunc(sh.ran, func(n string) bool { return strings.Contains(n, want) }) {
			t.Errorf("no step of the section is %q (steps: %q)", want, sh.ran)
		}
	}
}

// shell is the user's terminal: the module's folder, the environment the
// section's settings lines (export, VAR=$(…)) changed, and the servers its
// "&" commands started (stopped when the test ends).
type shell struct {
	parent   *testing.T
	dir      string
	module   string
	files    []string // the module's files as the README shows them
	env      []string
	fakeBin  string            // the fake gcloud's folder: what reached it is in gcloud-calls
	hosts    map[string]string // an address the README names → the one this test picked
	services []*testenv.Service
	ran      []string
}

// userShell is the environment of a user's shell: ours without the
// receiver's configuration, with a fake gcloud (any call is recorded and
// fails) and a stand-in for the sam CLI (this test binary, see TestMain)
// first on PATH, an empty gcloud config, and STAGE_DIR in a temporary
// folder so that the dry run does not stage into this checkout.
func userShell(t *testing.T) ([]string, string) {
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "gcloud"), []byte(testenv.FakeGcloud), 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, filepath.Join(bin, "sam")); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range userEnv() {
		if !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "CLOUDSDK_") && !strings.HasPrefix(kv, "STAGE_DIR=") &&
			!strings.HasPrefix(kv, "LAMBDA_PACKAGE=") && !strings.HasPrefix(kv, "REGION=") {
			env = append(env, kv)
		}
	}
	tmp := t.TempDir()
	return append(env, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"CLOUDSDK_CONFIG="+filepath.Join(tmp, "gcloud-config"), "STAGE_DIR="+filepath.Join(tmp, "stage", "source")), bin
}

// stepFor names a sh block's step by what it does and returns it: its
// commands, run as written, then the checks of what they made.
func (sh *shell) stepFor(b block) (string, func(*testing.T)) {
	run := func(t *testing.T) { sh.run(t, b) }
	switch {
	case strings.Contains(b.text, "go tool gemini-webhooks"):
		return "the admin command from the module's folder while the server runs", func(t *testing.T) {
			run(t)
			sh.checkAdmin(t)
		}
	case strings.Contains(b.text, "go mod tidy"):
		return "go mod tidy, build and test", run
	case strings.Contains(b.text, "&\n"):
		return "local run with the simulator and the API stand-in", func(t *testing.T) { run(t); sh.checkHints(t) }
	case strings.Contains(b.text, "deploy/gcp/deploy.sh"):
		return "deploy.sh --dry-run --package, built as the buildpack does and served", func(t *testing.T) {
			run(t)
			sh.serveStaged(t, b.text)
		}
	case strings.Contains(b.text, "sam build"):
		return "sam build of the Lambda main, run under the RIE", func(t *testing.T) {
			run(t)
			sh.runBootstrap(t, b.text)
		}
	}
	return fmt.Sprintf("commands %d", len(sh.ran)+1), run
}

// checkAdmin asks the admin command, as the README's block did, what the
// local run above left: the server answers (its state file is held), the
// landed batches are jobs, and nothing is dead-lettered.
func (sh *shell) checkAdmin(t *testing.T) {
	t.Helper()
	for _, c := range []struct {
		args string
		want []string
	}{
		{"status", []string{"through the running local server", "succeeded"}},
		{"jobs list", []string{"ID", "STATE", "batches/"}},
		{"deadletters list", []string{"no dead letters"}},
		{"jobs list --json", []string{`"state"`}},
	} {
		cmd := exec.Command("bash", "-c", "go tool gemini-webhooks "+c.args)
		cmd.Dir, cmd.Env = sh.dir, sh.env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go tool gemini-webhooks %s: %v\n%s", c.args, err, out)
		}
		for _, w := range c.want {
			if !strings.Contains(string(out), w) {
				t.Errorf("go tool gemini-webhooks %s lacks %q:\n%s", c.args, w, out)
			}
		}
	}
	if len(sh.services) == 0 {
		t.Fatal("no local server ran before the admin command")
	}
	select {
	case <-sh.services[len(sh.services)-1].Exited():
		t.Error("the local server stopped while the admin command ran")
	default:
	}
}

// setting is a line that changes the shell: export, or VAR=$(command).
var setting = regexp.MustCompile(`^(export [A-Za-z_]\w*=.*|[A-Za-z_]\w*=\$\(.*\))$`)

// run runs a sh block's commands as written, from the module's folder:
// settings change the shell's environment, "&" commands start servers (on
// free ports, the README's addresses replaced), others must succeed; the
// last is repeated until it prints the shape of the block's output, if the
// README shows it.
func (sh *shell) run(t *testing.T, b block) {
	t.Helper()
	var commands []string
	for _, l := range strings.Split(strings.TrimSpace(b.text), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			commands = append(commands, l)
		}
	}
	for i, c := range commands {
		for from, to := range sh.hosts {
			c = strings.ReplaceAll(c, from, to)
		}
		switch bg, isBg := strings.CutSuffix(c, "&"); {
		case setting.MatchString(c):
			cmd := exec.Command("bash", "-c", "set -a\n"+c+"\nenv -0")
			cmd.Dir, cmd.Env = sh.dir, sh.env
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s: %v", c, err)
			}
			sh.env = strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
		case isBg:
			sh.start(t, strings.TrimSpace(bg))
		default:
			want := ""
			if i == len(commands)-1 && b.output != nil {
				want = *b.output
			}
			sh.exec(t, c, want)
		}
	}
}

// start runs a long-lived command and waits until it answers HTTP.
func (sh *shell) start(t *testing.T, c string) {
	t.Helper()
	readmeAddr := "127.0.0.1:8080" // the local server's default PORT
	if m := regexp.MustCompile(`--addr (127\.0\.0\.1:\d+)`).FindStringSubmatch(c); m != nil {
		readmeAddr = m[1]
	}
	svc, err := testenv.StartProc(context.Background(), testenv.ProcSpec{
		Name: fmt.Sprintf("readme-%d", len(sh.services)),
		Argv: func(host string) []string {
			return []string{"bash", "-c", strings.ReplaceAll(c, readmeAddr, host)}
		},
		Env: func(host string) []string {
			return append(slices.Clone(sh.env), "PORT="+host[strings.LastIndex(host, ":")+1:])
		},
		Dir:     sh.dir,
		Ready:   testenv.HTTPAnswers,
		Timeout: 3 * time.Minute,
	})
	if err != nil {
		t.Fatalf("%s: %v", c, err)
	}
	sh.parent.Cleanup(svc.Stop) // the servers outlive this step
	sh.services = append(sh.services, svc)
	sh.hosts[readmeAddr] = svc.Host
}

// exec runs a command; with want, until its output has want's shape (the
// worker lands after the simulator's 202s).
func (sh *shell) exec(t *testing.T, c, want string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		cmd := exec.Command("bash", "-c", c)
		cmd.Dir, cmd.Env = sh.dir, sh.env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s\n%s", c, err, out, sh.logs())
		}
		if want == "" || sameShape(string(out), want) {
			t.Logf("%s:\n%s", c, out)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s printed\n%s\nwant the shape of the README's\n%s\n%s", c, out, want, sh.logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkHints: what the user's local server printed names its own command
// and a simulator command that exists in the user's module.
func (sh *shell) checkHints(t *testing.T) {
	t.Helper()
	if len(sh.services) < 2 {
		t.Fatalf("%d long-running commands, want the stand-in and the local server", len(sh.services))
	}
	serverLog := sh.services[len(sh.services)-1].LogText()
	for _, want := range []string{"see them with: go run ./cmd/local jobs list", local.SimulatorCommand + " --url"} {
		if !strings.Contains(serverLog, want) {
			t.Errorf("the local server's start-up lacks %q:\n%s", want, serverLog)
		}
	}
	if strings.Contains(serverLog, "./scripts/") || strings.Contains(serverLog, "./functions/") {
		t.Errorf("the local server names a path of this repository:\n%s", serverLog)
	}
}

// getenv reads the shell's environment.
func (sh *shell) getenv(k string) string {
	for _, kv := range slices.Backward(sh.env) {
		if v, ok := strings.CutPrefix(kv, k+"="); ok {
			return v
		}
	}
	return ""
}

// pkgArg is the package folder a command names after flag, as an import
// path of the user's module.
func (sh *shell) pkgArg(t *testing.T, text, flag string) string {
	t.Helper()
	m := regexp.MustCompile(regexp.QuoteMeta(flag) + `(\./\S+)`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no %s./FOLDER in:\n%s", flag, text)
	}
	return path.Join(sh.module, m[1])
}

// serveStaged builds what the dry run staged as the buildpack does, with
// the user's module moved away, and serves it as Cloud Run does: a signed
// batch.succeeded lands from the API stand-in and the user's handler runs
// once; its redelivery is a duplicate.
func (sh *shell) serveStaged(t *testing.T, text string) {
	t.Helper()
	if b, err := os.ReadFile(filepath.Join(sh.fakeBin, "gcloud-calls")); err == nil {
		t.Fatalf("the dry run called gcloud:\n%s", b)
	}
	pkg := sh.pkgArg(t, text, "--package ")
	work := t.TempDir()
	_, bin, err := testenv.BuildStaged(sh.getenv("STAGE_DIR"), work, pkg, []string{sh.dir})
	if err != nil {
		t.Fatal(err)
	}
	api := standIn(t)
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "FUNCTION_TARGET=GeminiWebhook", "K_SERVICE=GeminiWebhook",
		"IDEMPOTENCY_STORE=memory", "WEBHOOK_SIGNING_SECRET=" + secret, "GEMINI_API_KEY=" + apiKey,
		"GOOGLE_GEMINI_BASE_URL=" + api.URL, "RESULTS_SINK=" + filepath.Join(t.TempDir(), "results")}
	fn := startProc(t, "readme-gcf", bin, env)
	ev := webhooktest.BatchSucceeded("")
	for i, want := range []string{"processed", "duplicate"} {
		if a := post(t, "http://"+fn.Host, ev.ID, ev.Body); a.Status != http.StatusOK || a.Outcome != want {
			t.Fatalf("delivery %d of %s: %d %s, want 200 %s\n%s", i+1, ev.ID, a.Status, a.Outcome, want, fn.LogText())
		}
	}
	checkSummarized(t, api, fn.LogText(), ev)
}

// runBootstrap checks what sam build left in .aws-sam/build, builds the
// same Makefile target for this machine when it is not arm64 (the RIE runs
// native binaries), and runs it under the Lambda RIE: a signed Function
// URL delivery of batch.succeeded lands from the API stand-in and the
// user's handler runs once; its redelivery is a duplicate.
func (sh *shell) runBootstrap(t *testing.T, text string) {
	t.Helper()
	mainPkg := sh.pkgArg(t, text, "LAMBDA_PACKAGE=")
	arm := filepath.Join(sh.dir, ".aws-sam", "build", "GeminiWebhookFunction", "bootstrap")
	if err := testenv.CheckBootstrap(arm, mainPkg); err != nil {
		t.Fatalf("what sam build made: %v", err)
	}
	bootstrap := arm
	if runtime.GOARCH != "arm64" {
		m := regexp.MustCompile(`--template-file "?\$RECEIVER/(\S+?)"?(\s|$)`).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("no --template-file \"$RECEIVER/…\" in:\n%s", text)
		}
		makefile := filepath.Join(sh.getenv("RECEIVER"), filepath.Dir(m[1]), "Makefile")
		host := filepath.Join(t.TempDir(), "GeminiWebhookFunction")
		pkg := "./" + strings.TrimPrefix(mainPkg, sh.module+"/")
		if out, err := testenv.MakeAsSAM(makefile, "build-GeminiWebhookFunction", sh.dir, pkg, host,
			"GO_ENV=GOOS=linux GOARCH="+runtime.GOARCH+" CGO_ENABLED=0"); err != nil {
			t.Fatalf("the Makefile target for %s: %v\n%s", runtime.GOARCH, err, out)
		}
		bootstrap = filepath.Join(host, "bootstrap")
	}
	api := standIn(t)
	r, err := testenv.StartRIE(context.Background(), bootstrap, map[string]string{
		"IDEMPOTENCY_STORE": "memory", "WEBHOOK_SIGNING_SECRET": secret, "GEMINI_API_KEY": apiKey,
		"GOOGLE_GEMINI_BASE_URL": api.URL, "RESULTS_SINK": filepath.Join(t.TempDir(), "results")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	ev := webhooktest.BatchSucceeded("")
	for i, want := range []string{`"outcome":"processed"`, `"outcome":"duplicate"`} {
		out, err := r.Invoke(context.Background(), functionURL(t, ev.ID, ev.Body))
		if err != nil {
			t.Fatal(err)
		}
		var resp events.LambdaFunctionURLResponse
		if err := json.Unmarshal(out, &resp); err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(resp.Body, want) {
			t.Fatalf("invocation %d of %s: %s (%v), want 200 %s\n%s", i+1, ev.ID, out, err, want, r.Stdout)
		}
	}
	checkSummarized(t, api, r.Stdout.String(), ev)
}

// checkSummarized asserts that ev's results were downloaded once and that
// the user's Summarize ran once for it: one log line of the delivery with
// handlers ok and the summary it added.
func checkSummarized(t *testing.T, api *geminitest.Server, logs string, ev webhooktest.Event) {
	t.Helper()
	if n := api.Downloads(geminitest.AutoOutput(ev.JobID)); n != 1 {
		t.Errorf("%s: %d downloads of its results, want 1 landing", ev.JobID, n)
	}
	runs := 0
	for _, l := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) != nil || m["webhook_id"] != ev.ID {
			continue
		}
		if lines, ok := m["summary_lines"].(float64); ok {
			runs++
			if m["handlers"] != "ok" || lines < 1 {
				t.Errorf("the delivery's line: handlers %v, summary_lines %v; want ok and the landed lines", m["handlers"], lines)
			}
		}
	}
	if runs != 1 {
		t.Errorf("Summarize ran %d times for %s, want once (a line with summary_lines):\n%s", runs, ev.ID, logs)
	}
}

// typoClause is the README's example of a typo: `On("…", H)` instead of
// `On(core.X, H)`.
var typoClause = regexp.MustCompile("`(On\\(\"[^\"]+\", \\w+\\))` instead of\\s+`(On\\(core\\.\\w+, \\w+\\))`")

// typo makes the README's typo in a copy of the module, builds the local
// and Lambda mains, and runs each: it must exit with status 2 before
// serving anything, printing the README's panic.
func (sh *shell) typo(t *testing.T, prose, panicText string) {
	t.Helper()
	m := typoClause.FindStringSubmatch(prose)
	if m == nil {
		t.Fatalf("the section's prose has no \"`On(\\\"typo\\\", H)` instead of `On(core.Type, H)`\"")
	}
	typoDir := filepath.Join(t.TempDir(), "typo")
	for _, f := range append(slices.Clone(sh.files), "go.sum") {
		b, err := os.ReadFile(filepath.Join(sh.dir, f))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(typoDir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	handlers := filepath.Join(typoDir, "handlers", "handlers.go")
	src, err := os.ReadFile(handlers)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(src, []byte(m[2])); n != 1 {
		t.Fatalf("handlers.go holds %q %d times, want once", m[2], n)
	}
	if err := os.WriteFile(handlers, bytes.Replace(src, []byte(m[2]), []byte(m[1]), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	want := strings.TrimSpace(panicText)
	for _, main := range []string{"./cmd/local", "./cmd/lambda"} {
		bin := filepath.Join(t.TempDir(), path.Base(main))
		build := exec.Command("go", "build", "-o", bin, main)
		build.Dir, build.Env = typoDir, sh.env
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build %s with the typo (it must compile: the mistake is caught at start): %v\n%s", main, err, out)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		port, err := testenv.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		run := exec.CommandContext(ctx, bin)
		run.Dir, run.Env = typoDir, append(slices.Clone(sh.env), fmt.Sprintf("PORT=%d", port))
		var stdout, stderr bytes.Buffer
		run.Stdout, run.Stderr = &stdout, &stderr
		err = run.Run()
		cancel()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 {
			t.Errorf("%s with %s: %v, want exit status 2 at start\nstdout:\n%s\nstderr:\n%s", main, m[1], err, stdout.String(), stderr.String())
			continue
		}
		if first, _, _ := strings.Cut(stderr.String(), "\n"); first != want {
			t.Errorf("%s with %s printed\n%s\nwant the README's\n%s", main, m[1], first, want)
		}
	}
}

// userEnv is the environment of a user's shell: ours without the
// receiver's configuration.
func userEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "WEBHOOK_"), strings.HasPrefix(k, "GEMINI_"), strings.HasPrefix(k, "GOOGLE_"),
			k == "PORT", k == "RESULTS_SINK", k == "STATE_PATH", k == "IDEMPOTENCY_STORE", k == "QUEUE", k == "GOWORK":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "GOWORK=off")
}

// sameShape compares two listings of landed files with each job's folder
// (results/KIND/ID/…) read as any id: ids are fresh on every run.
func sameShape(got, want string) bool {
	norm := func(s string) []string {
		var out []string
		for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
			f := strings.Split(strings.TrimSpace(l), "/")
			if len(f) == 4 {
				f[2] = "*"
			}
			out = append(out, strings.Join(f, "/"))
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(norm(got), norm(want))
}

func (sh *shell) logs() string {
	var b strings.Builder
	for _, s := range sh.services {
		fmt.Fprintf(&b, "--- %s:\n%s\n", s.Name, s.LogText())
	}
	return b.String()
}

// samStandIn stands in for the sam CLI (not installed here) when this test
// binary is run as "sam" (TestMain): `sam build --template-file T` runs each
// makefile-built function's target as SAM's makefile builder does
// (testenv.MakeAsSAM: a scratch folder, --makefile naming T's Makefile,
// ARTIFACTS_DIR=.aws-sam/build/<LogicalId>, sam's environment with its PWD
// and LAMBDA_PACKAGE). Anything else is refused.
func samStandIn(args []string) int {
	tpl := "template.yaml"
	if len(args) == 0 || args[0] != "build" {
		fmt.Fprintf(os.Stderr, "sam stand-in: only `sam build --template-file T` is known here, not %q\n", args)
		return 2
	}
	for i := 1; i < len(args); i++ {
		switch {
		case (args[i] == "--template-file" || args[i] == "-t") && i+1 < len(args):
			tpl = args[i+1]
			i++
		default:
			fmt.Fprintf(os.Stderr, "sam stand-in: unknown argument %q\n", args[i])
			return 2
		}
	}
	b, err := os.ReadFile(tpl)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	caller := os.Getenv("PWD")
	if caller == "" {
		caller, _ = os.Getwd()
	}
	cwd, _ := os.Getwd()
	// Each resource of the template is "  Name:" at two spaces; a function
	// built by make says so in its Metadata.
	var fns []string
	names := regexp.MustCompile(`(?m)^  (\w+):\n`).FindAllStringSubmatch(string(b), -1)
	bodies := regexp.MustCompile(`(?m)^  (\w+):\n`).Split(string(b), -1)[1:]
	for i, r := range bodies {
		if strings.Contains(r, "    Type: AWS::Serverless::Function\n") && strings.Contains(r, "      BuildMethod: makefile\n") {
			fns = append(fns, names[i][1])
		}
	}
	if len(fns) == 0 {
		fmt.Fprintf(os.Stderr, "sam stand-in: no function with BuildMethod: makefile in %s\n", tpl)
		return 1
	}
	for _, fn := range fns {
		artifacts := filepath.Join(cwd, ".aws-sam", "build", fn)
		out, err := testenv.MakeAsSAM(filepath.Join(filepath.Dir(tpl), "Makefile"), "build-"+fn, caller, os.Getenv("LAMBDA_PACKAGE"), artifacts)
		os.Stdout.WriteString(out)
		if err != nil {
			fmt.Fprintf(os.Stderr, "Build Failed: %s: %v\n", fn, err)
			return 1
		}
		fmt.Printf("Building codeuri: %s runtime: provided.al2023 architecture: arm64 functions: %s\n", filepath.Dir(tpl), fn)
	}
	fmt.Println("Build Succeeded")
	return 0
}
