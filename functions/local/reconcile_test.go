package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/gemini/geminitest"
	"github.com/geminiwebhooks/receiver/core/reconcile"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
)

// `local reconcile` with the server stopped (it opens the state file) and
// running (it asks the server), against the Gemini API stand-in holding
// finished batches no webhook told the receiver about.
func TestReconcileCommand(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "local")
	build := exec.Command("go", "build", "-o", bin, "./functions/local")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	api := geminitest.New("test")
	defer api.Close()
	states := []string{"BATCH_STATE_SUCCEEDED", "BATCH_STATE_FAILED", "BATCH_STATE_CANCELLED", "BATCH_STATE_EXPIRED", "BATCH_STATE_SUCCEEDED", "BATCH_STATE_RUNNING"}
	for i, st := range states {
		b := geminitest.Batch{State: st}
		if st == "BATCH_STATE_SUCCEEDED" {
			b.OutputFile = fmt.Sprintf("files/cmd%d", i)
			api.AddFile(geminitest.File{Name: b.OutputFile, Size: 1000, Seed: int64(i)})
		}
		api.AddBatch(fmt.Sprintf("batches/cmd%d", i), b)
	}
	dir := t.TempDir()
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + dir,
		"WEBHOOK_SIGNING_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		"GEMINI_API_KEY=test", "GOOGLE_GEMINI_BASE_URL=" + api.URL,
		"RESULTS_SINK=" + filepath.Join(dir, "landed"),
	}
	run := func(args ...string) reconcile.Summary {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"reconcile"}, args...)...)
		cmd.Dir, cmd.Env = dir, env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("local reconcile %v: %v\n%s", args, err, stderr.String())
		}
		lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
		var s reconcile.Summary
		if err := json.Unmarshal(lines[len(lines)-1], &s); err != nil {
			t.Fatalf("local reconcile %v: last line %q: %v", args, lines[len(lines)-1], err)
		}
		return s
	}
	type counts struct{ Seen, Known, Running, Applied, Landed, Downloads int }
	of := func(s reconcile.Summary) counts {
		return counts{s.Seen, s.Known, s.Running, s.Applied, s.Landed, api.TotalDownloads()}
	}

	if got, want := of(run("--dry-run")), (counts{6, 0, 1, 5, 0, 0}); got != want {
		t.Fatalf("offline dry run: %+v, want %+v", got, want)
	}

	svc, err := testenv.StartProc(context.Background(), testenv.ProcSpec{
		Name: "local-reconcile",
		Argv: func(string) []string { return []string{bin} },
		Env: func(host string) []string {
			_, port, _ := strings.Cut(host, ":")
			return append([]string{"PORT=" + port}, env...)
		},
		Dir: dir, Ready: testenv.HTTPAnswers, Timeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Stop)
	if got, want := of(run()), (counts{6, 0, 1, 5, 2, 2}); got != want {
		t.Fatalf("through the running server: %+v, want %+v", got, want)
	}
	if got, want := of(run("--since", "1h")), (counts{6, 5, 1, 0, 0, 2}); got != want {
		t.Fatalf("second run through the server: %+v, want %+v", got, want)
	}
	svc.Stop()
	if got, want := of(run()), (counts{6, 5, 1, 0, 0, 2}); got != want {
		t.Fatalf("offline after the server stopped: %+v, want %+v", got, want)
	}
}
