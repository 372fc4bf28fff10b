package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/geminiwebhooks/receiver/adapters/bolt"
	"github.com/geminiwebhooks/receiver/adapters/internal/env"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

// deadPID is the id of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("cannot run true:", err)
	}
	return cmd.Process.Pid
}

// Issue 13, finding 10: a stale admin.json (a crashed server, a reused PID)
// is not trusted: the token is not sent to whatever listens on that port.
func TestStaleAdminInfoNotTrusted(t *testing.T) {
	me := os.Getpid()
	tests := []struct {
		name     string
		info     func(t *testing.T, url string) Info
		wantDown bool
	}{
		{"process gone", func(t *testing.T, url string) Info { return Info{URL: url, Token: "tok", PID: deadPID(t), Start: "1"} }, true},
		{"process gone, no start time", func(t *testing.T, url string) Info { return Info{URL: url, Token: "tok", PID: deadPID(t)} }, true},
		{"PID reused by another process", func(t *testing.T, url string) Info { return Info{URL: url, Token: "tok", PID: me, Start: "1"} }, true},
		{"the recorded server itself", func(t *testing.T, url string) Info {
			return Info{URL: url, Token: "tok", PID: me, Start: ProcStart(me)}
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var hits atomic.Int64
			rogue := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				_, _ = w.Write([]byte(`[]`))
			}))
			defer rogue.Close()
			cfg := env.Config{IdempotencyStore: "file", StatePath: filepath.Join(t.TempDir(), "state.db")}
			b, _ := json.Marshal(tc.info(t, rogue.URL))
			if err := os.WriteFile(InfoPath(cfg), b, 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := DialServer(cfg)
			if err == nil {
				_, err = c.ListJobs(context.Background(), 0)
			}
			if got := errors.Is(err, ErrServerDown); got != tc.wantDown {
				t.Fatalf("DialServer: %v, want server down %v", err, tc.wantDown)
			}
			if tc.wantDown && hits.Load() != 0 {
				t.Fatal("the token went to whatever listens on the recorded port")
			}
		})
	}
}

// Issue 13, finding 10: what the commands print is ASCII: a terminal never
// gets a control or bidi character from the ledger.
func TestOutputEscaped(t *testing.T) {
	job := jobs.Job{ID: "files/x", ErrorMessage: "\u202egnp.exe \x1b[2J caf\u00e9 \U0001F600"}
	for _, args := range [][]string{{"jobs", "list"}, {"jobs", "list", "--json"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "state.db")
			s, err := bolt.Open(state)
			if err != nil {
				t.Fatal(err)
			}
			l, _ := bolt.NewLedger(s.DB())
			if _, err := l.UpdateJob(context.Background(), job.ID, func(*jobs.Job) (*jobs.Job, error) { return &job, nil }); err != nil {
				t.Fatal(err)
			}
			s.Close()
			var out, errs strings.Builder
			if code := Run(context.Background(), args, Env{Name: "x", Stdout: &out, Stderr: &errs, Getenv: func(k string) string { return map[string]string{"STATE_PATH": state}[k] }}); code != 0 {
				t.Fatalf("exit %d: %s", code, errs.String())
			}
			for _, r := range out.String() {
				if (r < 0x20 && r != '\n') || r >= 0x7f {
					t.Fatalf("printed %q: raw character %U", out.String(), r)
				}
			}
			if !strings.Contains(out.String(), "files/x") {
				t.Fatalf("printed %s", out.String())
			}
		})
	}
}

// Run from another directory, a command says where it looked (the absolute
// state file and admin.json) and how to point it (STATE_PATH); an unknown
// dead-letter key is one line naming the key.
func TestSaysWhereItLooked(t *testing.T) {
	statePath := filepath.Join(t.TempDir(), "state.db")
	s, err := bolt.Open(statePath)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	elsewhere := t.TempDir()
	t.Chdir(elsewhere)
	cases := []struct {
		name     string
		env      map[string]string
		args     []string
		wantCode int
		want     []string
	}{
		{"default STATE_PATH from another directory", nil, []string{"jobs", "list"}, 1, []string{
			filepath.Join(elsewhere, ".gemini-webhooks", "state.db"), filepath.Join(elsewhere, ".gemini-webhooks", "admin.json"),
			"STATE_PATH=.gemini-webhooks/state.db is relative to the working directory " + elsewhere, "set STATE_PATH"}},
		{"absolute STATE_PATH that is not there", map[string]string{"STATE_PATH": filepath.Join(elsewhere, "none.db")}, []string{"deadletters", "list"}, 1, []string{
			filepath.Join(elsewhere, "none.db") + " (no such file)", "set STATE_PATH"}},
		{"unknown dead letter", map[string]string{"STATE_PATH": statePath}, []string{"deadletters", "replay", "nope"}, 1, []string{
			`no dead letter "nope" (deadletters list shows the keys)`}},
		{"empty lists", map[string]string{"STATE_PATH": statePath}, []string{"tasks", "list"}, 0, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := Run(context.Background(), c.args, Env{Name: "mybin", Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return c.env[k] }})
			if code != c.wantCode {
				t.Errorf("exit %d, want %d; stderr %q", code, c.wantCode, stderr.String())
			}
			for _, w := range c.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
			if code != 0 && (!strings.HasPrefix(stderr.String(), "mybin ") || strings.Count(strings.TrimSpace(stderr.String()), "\n") != 0) {
				t.Errorf("stderr is not one line naming the binary:\n%s", stderr.String())
			}
			if code == 0 && stdout.String() != "no queued tasks\n" {
				t.Errorf("stdout %q", stdout.String())
			}
		})
	}
}
