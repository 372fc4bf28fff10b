package usermod_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/local"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
)

// readmeSection is the README section that is a whole user module.
const readmeSection = "## Your own module"

// block is a fenced code block of the README: its info string and text.
type block struct{ lang, text string }

// readmeBlocks returns the code blocks of the README's section.
func readmeBlocks(t *testing.T, root string) []block {
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
	var out []block
	var cur *block
	for _, l := range strings.Split(s, "\n") {
		switch {
		case cur == nil && strings.HasPrefix(l, "```"):
			cur = &block{lang: strings.TrimPrefix(l, "```")}
		case cur != nil && l == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.text += l + "\n"
		}
	}
	return out
}

// fileHeader is the first line of a block that is a file of the module.
var fileHeader = regexp.MustCompile(`^// ([A-Za-z0-9_./-]+\.(?:go|mod))\n`)

// The README's "Your own module" is a module that works: its files,
// written as the README shows them into a temporary folder (only the
// replace path is this checkout), pass their tests written with the test
// kit after `go mod tidy` alone; and its commands, run as written from the
// module's folder, start the Gemini API stand-in and the user's local
// server, drive it with the simulator, and land what the README says lands.
func TestReadmeModule(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds and runs the README's module")
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var commands []string
	var expected string
	files := 0
	for _, b := range readmeBlocks(t, root) {
		switch b.lang {
		case "go":
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
			}
			p := filepath.Join(dir, filepath.FromSlash(m[1]))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			files++
		case "sh":
			for _, l := range strings.Split(strings.TrimSpace(b.text), "\n") {
				if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
					commands = append(commands, l)
				}
			}
		case "text":
			expected = b.text // the last one: what the last command prints
		}
	}
	if files < 6 || len(commands) < 5 {
		t.Fatalf("the section has %d files and %d commands: want go.mod, handlers, their test, three entry points and the commands", files, len(commands))
	}
	for _, f := range []string{"go.sum", "vendor"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Fatalf("%s exists before go mod tidy", f)
		}
	}

	env := userEnv()
	hosts := map[string]string{} // an address the README names → the one this test picked
	var services []*testenv.Service
	for i, c := range commands {
		for from, to := range hosts {
			c = strings.ReplaceAll(c, from, to)
		}
		if bg, ok := strings.CutSuffix(c, "&"); ok {
			bg = strings.TrimSpace(bg)
			readmeAddr := "127.0.0.1:8080" // the local server's default PORT
			if m := regexp.MustCompile(`--addr (127\.0\.0\.1:\d+)`).FindStringSubmatch(bg); m != nil {
				readmeAddr = m[1]
			}
			svc, err := testenv.StartProc(context.Background(), testenv.ProcSpec{
				Name: fmt.Sprintf("readme-%d", i),
				Argv: func(host string) []string {
					return []string{"bash", "-c", strings.ReplaceAll(bg, readmeAddr, host)}
				},
				Env:     func(host string) []string { return append(env, "PORT="+host[strings.LastIndex(host, ":")+1:]) },
				Dir:     dir,
				Ready:   testenv.HTTPAnswers,
				Timeout: 3 * time.Minute,
			})
			if err != nil {
				t.Fatalf("%s: %v", bg, err)
			}
			t.Cleanup(svc.Stop)
			services = append(services, svc)
			hosts[readmeAddr] = svc.Host
			continue
		}
		last := i == len(commands)-1
		deadline := time.Now().Add(60 * time.Second)
		for {
			cmd := exec.Command("bash", "-c", c)
			cmd.Dir, cmd.Env = dir, env
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v\n%s\n%s", c, err, out, logs(services))
			}
			// The last command shows what landed: the worker lands after
			// the simulator's 202s, so it is repeated until all of it is there.
			if !last || sameShape(string(out), expected) {
				t.Logf("%s:\n%s", c, out)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s printed\n%s\nwant the shape of the README's\n%s\n%s", c, out, expected, logs(services))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// The hints the user's local server printed name its own command and
	// a simulator command that exists in the user's module.
	if len(services) < 2 {
		t.Fatalf("%d long-running commands, want the stand-in and the local server", len(services))
	}
	serverLog := services[len(services)-1].LogText()
	for _, want := range []string{"see them with: go run ./cmd/local jobs list", local.SimulatorCommand + " --url"} {
		if !strings.Contains(serverLog, want) {
			t.Errorf("the local server's start-up lacks %q:\n%s", want, serverLog)
		}
	}
	if strings.Contains(serverLog, "./scripts/") || strings.Contains(serverLog, "./functions/") {
		t.Errorf("the local server names a path of this repository:\n%s", serverLog)
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

func logs(svcs []*testenv.Service) string {
	var b strings.Builder
	for _, s := range svcs {
		fmt.Fprintf(&b, "--- %s:\n%s\n", s.Name, s.LogText())
	}
	return b.String()
}
