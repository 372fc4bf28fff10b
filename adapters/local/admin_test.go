package local

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Issue 13, finding 10: the admin listener times out idle peers.
func TestAdminServerTimeouts(t *testing.T) {
	srv := newAdminServer(http.NotFoundHandler())
	for name, d := range map[string]time.Duration{
		"ReadHeaderTimeout": srv.ReadHeaderTimeout, "ReadTimeout": srv.ReadTimeout,
		"WriteTimeout": srv.WriteTimeout, "IdleTimeout": srv.IdleTimeout,
	} {
		if d <= 0 || d > 2*time.Minute {
			t.Errorf("%s = %s", name, d)
		}
	}
	if adminMaxConns <= 0 || adminMaxConns > 64 {
		t.Errorf("adminMaxConns = %d", adminMaxConns)
	}
}

// The binary's subcommands are adapters/internal/admin's, plus reconcile: -h prints
// server mode, every subcommand (reconcile too) and the environment to
// stdout and exits 0; a subcommand's -h its options; a mistake is one line
// on stderr and exit 2 (before: "status" printed a usage line and exit 2,
// --help left reconcile out).
func TestSubcommandsHelpAndMistakes(t *testing.T) {
	tests := []struct {
		args   []string
		code   int
		stdout []string
		stderr string
	}{
		{[]string{"-h"}, 0, []string{"Server mode", "127.0.0.1:$PORT", "STATE_PATH", "WEBHOOK_SIGNING_SECRET", " status ", "jobs list", "deadletters list | get KEY | replay KEY", "tasks list", "reconcile [--since 48h]"}, ""},
		{[]string{"--help"}, 0, []string{"Server mode", "reconcile"}, ""},
		{[]string{"jobs", "list", "-h"}, 0, []string{"-limit", "-json"}, ""},
		{[]string{"deadletters", "-h"}, 0, []string{"replay KEY"}, ""},
		{[]string{"reconcile", "-h"}, 0, []string{"-since", "-dry-run"}, ""},
		{[]string{"stauts"}, 2, nil, `unknown command "stauts"`},
		{[]string{"jobs", "list", "--nope"}, 2, nil, "flag provided but not defined"},
		{[]string{"reconcile", "--since", "x"}, 2, nil, "reconcile: invalid value"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := adminMain(context.Background(), nil, tc.args, func(string) string { return "" }, &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout.String(), stderr.String())
			}
			for _, w := range tc.stdout {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout.String())
				}
			}
			if !strings.Contains(stderr.String(), tc.stderr) || tc.code != 0 && (stdout.Len() != 0 || strings.Count(strings.TrimSpace(stderr.String()), "\n") != 0) {
				t.Errorf("stderr %q (want one line with %q), stdout %q", stderr.String(), tc.stderr, stdout.String())
			}
		})
	}
}
