package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// UserModulePath is the module path of the user's module WriteUserModule makes.
const UserModulePath = "example.com/usermod"

// userModule is a user's own module: its go.mod requires this repository
// (replaced by the checkout), and its packages are what a user writes to
// run two handlers on every runtime. Each file under gcf/, lambda/ and
// local/ is the whole wiring a user writes for that runtime.
var userModule = map[string]string{
	"go.mod": `module example.com/usermod

go 1.26.0

require github.com/geminiwebhooks/receiver v0.0.0-00010101000000-000000000000

replace github.com/geminiwebhooks/receiver => {{ROOT}}
`,
	"handlers/handlers.go": `// Package handlers is the user's code: two handlers on batch.succeeded,
// two tools and a handler on interaction.requires_action, and a handler on
// interaction.completed. Each appends a line to $USERMOD_LOG: "who
// delivery job note".
package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/gemini"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

// Mux is the user's mux, shared by every runtime: two handlers on
// batch.succeeded, two agent tools with a handler after them, and a
// handler on the conversation's end.
func Mux() *core.Mux {
	return core.NewMux().On(core.BatchSucceeded, save, audit).
		Tool("lookup", lookup).Tool("weigh", weigh).On(core.InteractionRequiresAction, acted).
		On(core.InteractionCompleted, done)
}

// lookup is a tool the model calls by name; its result goes back as JSON.
func lookup(ctx context.Context, call *core.ToolCall) (any, error) {
	if err := ran(call); err != nil {
		return nil, err
	}
	return map[string]any{"found": string(call.Args)}, nil
}

// weigh is another tool; a string result goes back as it is.
func weigh(ctx context.Context, call *core.ToolCall) (any, error) {
	if err := ran(call); err != nil {
		return nil, err
	}
	return "weighed " + call.CallID, nil
}

// ran records a tool's run, "tool delivery job interaction/call_id", then
// takes a while, as a real tool does: long enough for two deliveries of a
// round to overlap.
func ran(call *core.ToolCall) error {
	if err := record("tool", call.Event, call.InteractionID+"/"+call.CallID); err != nil {
		return err
	}
	time.Sleep(100 * time.Millisecond)
	return nil
}

// acted runs after the built-in actions answered the model.
func acted(ctx context.Context, ev *core.Event) error { return record("acted", ev, "") }

// done runs at the conversation's end: "done delivery job conversation",
// the conversation's first interaction.
func done(ctx context.Context, ev *core.Event) error {
	j, ok := jobs.JobOf(ctx)
	if !ok {
		return record("done", ev, "no-job")
	}
	return record("done", ev, j.Conversation)
}

// save reads the landed results as typed lines.
func save(ctx context.Context, ev *core.Event) error {
	landed, err := jobs.Landed(ctx)
	if err != nil {
		return record("save", ev, "not-landed")
	}
	r, err := landed.Open(ctx)
	if err != nil {
		return err
	}
	defer r.Close()
	n, failed := 0, 0
	for line, err := range gemini.BatchLines(r) {
		if err != nil {
			return err
		}
		n++
		if line.Error != nil {
			failed++
		}
	}
	return record("save", ev, fmt.Sprintf("lines=%d failed=%d bytes=%d", n, failed, landed.Manifest.Bytes))
}

// audit fails the first attempt of each delivery whose id ends in "-retry"
// when $USERMOD_FAIL_FIRST names a folder (a marker per delivery there).
func audit(ctx context.Context, ev *core.Event) error {
	if dir := os.Getenv("USERMOD_FAIL_FIRST"); dir != "" && strings.HasSuffix(ev.Delivery.ID, "-retry") {
		f, err := os.OpenFile(filepath.Join(dir, url.PathEscape(ev.Delivery.ID)), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err == nil {
			f.Close()
			_ = record("audit-failed", ev, "")
			return errors.New("audit: the first attempt fails")
		}
	}
	return record("audit", ev, "")
}

func record(who string, ev *core.Event, note string) error {
	f, err := os.OpenFile(os.Getenv("USERMOD_LOG"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = fmt.Fprintf(f, "%s %s %s %s\n", who, ev.Delivery.ID, ev.JobID(), note)
	return err
}
`,
	"gcf/fn.go": `package fn

import (
	"example.com/usermod/handlers"
	"github.com/geminiwebhooks/receiver/adapters/gcf"
)

func init() { gcf.Register(handlers.Mux()) }
`,
	"lambda/main.go": `package main

import (
	"example.com/usermod/handlers"
	"github.com/geminiwebhooks/receiver/adapters/lambda"
)

func main() { lambda.Start(handlers.Mux()) }
`,
	"local/main.go": `package main

import (
	"example.com/usermod/handlers"
	"github.com/geminiwebhooks/receiver/adapters/local"
)

func main() { local.Main(handlers.Mux()) }
`,
	// What the Cloud Functions buildpack's generated main does.
	"gcfserve/main.go": `package main

import (
	"log"
	"os"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"

	_ "example.com/usermod/gcf"
)

func main() {
	if err := funcframework.StartHostPort("127.0.0.1", os.Getenv("PORT")); err != nil {
		log.Fatal(err)
	}
}
`,
}

// UserWiringFiles are the files of the user's module that only wire a runtime.
var UserWiringFiles = []string{"gcf/fn.go", "lambda/main.go", "local/main.go"}

// WriteUserModule writes the user's module into dir, requiring the
// checkout at root, and resolves its go.sum (go mod tidy, through the
// module proxy or the module cache).
func WriteUserModule(dir, root string) error {
	for name, text := range userModule {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(text, "{{ROOT}}", root)), 0o644); err != nil {
			return err
		}
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644); err != nil {
		return err
	}
	cmd := exec.Command("go", "mod", "tidy")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go mod tidy in the user's module: %v\n%s", err, out)
	}
	return nil
}

// CodeLines counts a Go file's lines that are neither blank nor comments.
func CodeLines(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "//") {
			n++
		}
	}
	return n, nil
}
