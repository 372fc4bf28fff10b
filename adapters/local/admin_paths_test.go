package local

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/geminiwebhooks/receiver/adapters/bolt"
)

// Run from another directory, an admin command says where it looked (the
// absolute state file and admin.json) and how to point it (STATE_PATH);
// before, it printed only "no state file at .gemini-webhooks/state.db". An
// unknown dead-letter key is one line naming the key.
func TestAdminSaysWhereItLooked(t *testing.T) {
	state := t.TempDir()
	statePath := filepath.Join(state, "state.db")
	s, err := bolt.Open(statePath)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	elsewhere := t.TempDir()
	t.Chdir(elsewhere)
	cases := []struct {
		name     string
		env      map[string]string
		args     []string
		wantCode int
		want     []string // in stderr
	}{
		{"default STATE_PATH from another directory", nil, []string{"jobs", "list"}, 1, []string{
			filepath.Join(elsewhere, ".gemini-webhooks", "state.db"), filepath.Join(elsewhere, ".gemini-webhooks", "admin.json"),
			"STATE_PATH=.gemini-webhooks/state.db is relative to the working directory " + elsewhere, "set STATE_PATH"}},
		{"absolute STATE_PATH that is not there", map[string]string{"STATE_PATH": filepath.Join(elsewhere, "none.db")}, []string{"deadletters", "list"}, 1, []string{
			filepath.Join(elsewhere, "none.db") + " (no such file)", "set STATE_PATH"}},
		{"unknown dead letter", map[string]string{"STATE_PATH": statePath}, []string{"deadletters", "replay", "nope"}, 1, []string{
			`no dead letter "nope" (deadletters list shows the keys)`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := adminCommand(context.Background(), c.args, func(k string) string { return c.env[k] }, &stdout, &stderr)
			if code != c.wantCode {
				t.Errorf("exit %d, want %d; stderr %q", code, c.wantCode, stderr.String())
			}
			for _, w := range c.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
			if n := strings.Count(strings.TrimSpace(stderr.String()), "\n"); n != 0 {
				t.Errorf("stderr is %d lines, want one:\n%s", n+1, stderr.String())
			}
		})
	}
}

// -h explains server mode and the environment and exits 0, whatever
// subcommand it follows (before: a one-line usage and exit 2).
func TestHelpExitsZero(t *testing.T) {
	cases := [][]string{{"-h"}, {"--help"}, {"help"}, {"jobs", "list", "-h"}, {"deadletters", "-h"}}
	for _, args := range cases {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := adminCommand(context.Background(), args, func(string) string { return "" }, &stdout, &stderr)
			if code != 0 {
				t.Fatalf("exit %d, want 0; stderr %q", code, stderr.String())
			}
			for _, w := range []string{"Server mode", "127.0.0.1:$PORT", "STATE_PATH", "WEBHOOK_SIGNING_SECRET", "deadletters replay KEY"} {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("help lacks %q:\n%s", w, stdout.String())
				}
			}
		})
	}
}
