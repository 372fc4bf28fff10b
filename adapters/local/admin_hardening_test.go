package local

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
	"time"

	"github.com/geminiwebhooks/receiver/adapters/env"
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
		info     func(t *testing.T, url string) adminInfo
		wantDown bool
	}{
		{"process gone", func(t *testing.T, url string) adminInfo {
			return adminInfo{URL: url, Token: "tok", PID: deadPID(t), Start: "1"}
		}, true},
		{"process gone, no start time", func(t *testing.T, url string) adminInfo {
			return adminInfo{URL: url, Token: "tok", PID: deadPID(t)}
		}, true},
		{"PID reused by another process", func(t *testing.T, url string) adminInfo {
			return adminInfo{URL: url, Token: "tok", PID: me, Start: "1"}
		}, true},
		{"the recorded server itself", func(t *testing.T, url string) adminInfo {
			return adminInfo{URL: url, Token: "tok", PID: me, Start: procStart(me)}
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
			dir := t.TempDir()
			cfg := env.Config{StatePath: filepath.Join(dir, "state.db")}
			b, _ := json.Marshal(tc.info(t, rogue.URL))
			if err := os.WriteFile(adminInfoPath(cfg), b, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := viaServer(context.Background(), cfg, "jobs list", "", 0)
			if got := errors.Is(err, errServerDown); got != tc.wantDown {
				t.Fatalf("viaServer: %v, want server down %v", err, tc.wantDown)
			}
			if tc.wantDown && hits.Load() != 0 {
				t.Fatal("the token went to whatever listens on the recorded port")
			}
		})
	}
}

// Issue 13, finding 10: what the CLI prints is escaped.
func TestAdminOutputEscaped(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want string
	}{
		{"bidi and escape in a job", `[{"id":"files/x","error_message":"\u202egnp.exe \u001b[2J"}]`, `{"id":"files/x","error_message":"\u202egnp.exe \u001b[2J"}`},
		{"raw UTF-8 in a value", "[{\"m\":\"caf\u00e9 \u2066x\"}]", `{"m":"caf\u00e9 \u2066x"}`},
		{"not JSON with a control character", "hello \x1b[31mred\u202e", `hello \x1b[31mred\u202e`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			printJSONLines(&b, json.RawMessage(tc.raw))
			out := strings.TrimSuffix(b.String(), "\n")
			for _, r := range out {
				if r < 0x20 || r >= 0x7f {
					t.Fatalf("printed %q: raw character %U", out, r)
				}
			}
			if out != tc.want {
				t.Fatalf("printed %s, want %s", out, tc.want)
			}
		})
	}
}
