package usermod_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// adminTool is the admin command as a tool of the user's module, added once.
var adminTool struct {
	once sync.Once
	err  error
}

// The README's way to install the admin command in a user's module, then
// what `go mod tidy` alone must keep working.
const adminToolPath = "github.com/geminiwebhooks/receiver/scripts/gemini-webhooks"

func goIn(ctx context.Context, dir string, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "GOWORK=off"), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// addAdminTool builds the user's module and adds the admin command to it
// as a tool, once (go mod edit -tool, then go mod tidy only).
func addAdminTool(t *testing.T) {
	t.Helper()
	userModule(t)
	adminTool.once.Do(func() {
		for _, args := range [][]string{{"mod", "edit", "-tool=" + adminToolPath}, {"mod", "tidy"}} {
			if out, err := goIn(context.Background(), built.dir, nil, args...); err != nil {
				adminTool.err = &toolErr{args: args, out: out, err: err}
				return
			}
		}
	})
	if adminTool.err != nil {
		t.Fatal(adminTool.err)
	}
}

// TestAdminCommandsFromTheUserModule: from the user's module folder, with
// the admin command added as a tool (go mod edit -tool, then go mod tidy
// only), `go tool gemini-webhooks` runs status, jobs, deadletters and
// replay while the user's own local server runs, through its admin
// listener; the user's own binary's subcommands print the same.
func TestAdminCommandsFromTheUserModule(t *testing.T) {
	addAdminTool(t)
	ctx := context.Background()
	api := standIn(t)
	state := filepath.Join(t.TempDir(), "state", "state.db")
	log := filepath.Join(t.TempDir(), "runs.log")
	srv := startProc(t, "usermod-admin", built.local, processEnv(t, api, log, map[string]string{"WEBHOOK_SIGNING_SECRET": secret, "STATE_PATH": state}))
	url := "http://" + srv.Host
	if a := post(t, url, "msg_A1", body("A1")); a.Status != http.StatusAccepted {
		t.Fatalf("delivery: %d", a.Status)
	}
	if a := post(t, url, "msg_A2", []byte(`{"type":`)); a.Status != http.StatusOK {
		t.Fatalf("unparsable delivery: %d", a.Status)
	}
	waitFor(t, log, srv.LogText, "audit msg_A1")
	stateEnv := []string{"STATE_PATH=" + state}
	tool := func(args ...string) string {
		t.Helper()
		out, err := goIn(ctx, built.dir, stateEnv, append([]string{"tool", "gemini-webhooks"}, args...)...)
		if err != nil {
			t.Fatalf("go tool gemini-webhooks %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	own := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, built.local, args...)
		cmd.Dir = built.dir
		cmd.Env = append(os.Environ(), stateEnv...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("local %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	start := time.Now()
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"status"}, []string{"through the running local server", "succeeded 1", "dead letters                  1"}},
		{[]string{"jobs", "list"}, []string{"ID", "STATE", "batches/A1", "succeeded"}},
		{[]string{"deadletters", "list"}, []string{"KEY", "msg_A2"}},
		{[]string{"tasks", "list"}, []string{"no queued tasks"}},
	} {
		out := tool(c.args...)
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("go tool gemini-webhooks %s lacks %q:\n%s", strings.Join(c.args, " "), w, out)
			}
		}
		if c.args[0] != "status" { // status names its binary nowhere; the rest must match exactly
			// Ages ("3s ago") may tick between the two commands.
			if mine := own(c.args...); ages.ReplaceAllString(mine, "N ago") != ages.ReplaceAllString(out, "N ago") {
				t.Errorf("the user's binary and the tool differ on %s:\n%s\n---\n%s", strings.Join(c.args, " "), mine, out)
			}
		}
	}
	if out := tool("deadletters", "replay", "msg_A2"); !strings.Contains(out, "queued msg_A2: the running local server") {
		t.Errorf("replay: %s", out)
	}
	t.Logf("the tool's commands against the running server took %s (go tool builds it once)", time.Since(start).Round(time.Millisecond))
}

// ages matches the relative times the tables print.
var ages = regexp.MustCompile(`\d+(\.\d+)?(ms|s|m|h|d) ago`)

type toolErr struct {
	args []string
	out  string
	err  error
}

func (e *toolErr) Error() string {
	return "go " + strings.Join(e.args, " ") + ": " + e.err.Error() + "\n" + e.out
}
