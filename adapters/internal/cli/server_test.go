package cli

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/scripts/testenv"
)

const serverSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// signedPost sends body as a static delivery id, signed with serverSecret.
func signedPost(t *testing.T, host, id, body string) int {
	t.Helper()
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(serverSecret, "whsec_"))
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + body))
	req, _ := http.NewRequest(http.MethodPost, "http://"+host+"/", strings.NewReader(body))
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", ts)
	req.Header.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestCommandsWhileTheLocalServerRuns: the local server (the built binary
// of functions/local) holds its state file; status, jobs, deadletters and
// replay ask it through its admin listener instead of waiting on the
// file's lock, with the same tables and --json; once it stopped they open
// the file.
func TestCommandsWhileTheLocalServerRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the local server")
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "local")
	build := exec.Command("go", "build", "-o", bin, "./functions/local")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	state := filepath.Join(dir, "state", "state.db")
	srv, err := testenv.StartProc(context.Background(), testenv.ProcSpec{
		Name: "local", Dir: dir, Argv: func(string) []string { return []string{bin} },
		Env: func(host string) []string {
			_, port, _ := strings.Cut(host, ":")
			return append(os.Environ(), "PORT="+port, "STATE_PATH="+state, "WEBHOOK_SIGNING_SECRET="+serverSecret, "GEMINI_API_KEY=", "QUEUE=", "IDEMPOTENCY_STORE=")
		},
		Ready: testenv.HTTPAnswers, Timeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	vars := map[string]string{"STATE_PATH": state}
	getenv := func(k string) string { return vars[k] }
	runSteps(t, getenv, []opStep{
		{"no jobs yet", []string{"jobs", "list"}, 0, []string{"no jobs"}, nil},
		{"no dead letters yet", []string{"deadletters", "list"}, 0, []string{"no dead letters"}, nil},
		{"empty JSON list", []string{"deadletters", "list", "--json"}, 0, []string{"[]"}, nil},
	})
	if code := signedPost(t, srv.Host, "msg_job", `{"type":"batch.succeeded","version":"v1","timestamp":"2026-12-01T11:00:00Z","data":{"id":"batches/live","output_file_uri":"files/out"}}`); code != http.StatusAccepted {
		t.Fatalf("delivery: %d", code)
	}
	if code := signedPost(t, srv.Host, "msg_garbage", `{"type":`); code != http.StatusOK {
		t.Fatalf("unparsable delivery: %d", code)
	}
	eventually(t, "the job in the ledger", func() bool {
		code, out := cli(getenv, "jobs", "list")
		return code == 0 && strings.Contains(out, "batches/live")
	})
	start := time.Now()
	runSteps(t, getenv, []opStep{
		{"status", []string{"status"}, 0, []string{"through the running local server, pid " + strconv.Itoa(srv.Pid()), "succeeded 1", "dead letters                  1", "deliveries 24h"}, nil},
		{"status --json", []string{"status", "--json"}, 0, []string{`"dead_letters": 1`, `"queued_tasks": 0`}, nil},
		{"jobs list", []string{"jobs", "list"}, 0, []string{"ID", "STATE", "batches/live", "succeeded"}, nil},
		{"jobs get", []string{"jobs", "get", "batches/live", "--json"}, 0, []string{`"id": "batches/live"`, `"msg_job"`}, nil},
		{"deadletters list", []string{"deadletters", "list"}, 0, []string{"KEY", "msg_garbage"}, nil},
		{"deadletters get", []string{"deadletters", "get", "msg_garbage"}, 0, []string{`"body_text": "{\"type\":"`}, nil},
		{"replay", []string{"deadletters", "replay", "msg_garbage"}, 0, []string{"queued msg_garbage: the running local server (pid " + strconv.Itoa(srv.Pid()) + ") runs it now"}, nil},
		{"replay unknown", []string{"deadletters", "replay", "msg_nope"}, 1, []string{"no dead letter"}, nil},
	})
	if took := time.Since(start); took > 20*time.Second {
		t.Logf("the commands took %s", took) // they never wait on the lock (2 s each when they did)
	}
	// The replayed body still is no event: the server's worker dead-letters it again.
	eventually(t, "the replayed one back in the dead letters", func() bool {
		_, out := cli(getenv, "deadletters", "list")
		return strings.Contains(out, "msg_garbage")
	})
	srv.Stop()
	runSteps(t, getenv, []opStep{
		{"the file itself once the server stopped", []string{"status"}, 0, []string{state, "succeeded 1"}, []string{"through the running local server"}},
	})
}

// TestHelpAndMistakes: -h prints the usage to stdout and exits 0; a mistake
// is one line on stderr and exit 2, with nothing on stdout.
func TestHelpAndMistakes(t *testing.T) {
	tests := []struct {
		args       []string
		code       int
		stdout     string
		stderr     string
		emptyOuput bool
	}{
		{[]string{"-h"}, 0, "deadletters list", "", false},
		{[]string{"--help"}, 0, "status", "", false},
		{[]string{"jobs", "-h"}, 0, "usage: gemini-webhooks jobs list", "", false},
		{[]string{"deadletters", "--help"}, 0, "replay KEY", "", false},
		{[]string{"status", "-h"}, 0, "-deliveries", "", false},
		{[]string{"nope"}, 2, "", `unknown command "nope"`, true},
		{[]string{"status", "--nope"}, 2, "", "flag provided but not defined", true},
		{[]string{"jobs"}, 2, "", "want jobs list or jobs get ID", true},
		{[]string{}, 2, "", "Commands:", true},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, &stdout, &stderr, func(string) string { return "" })
			if code != tc.code || !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) || tc.emptyOuput && stdout.Len() != 0 {
				t.Errorf("exit %d\nstdout: %s\nstderr: %s", code, stdout.String(), stderr.String())
			}
		})
	}
}
