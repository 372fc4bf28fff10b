package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/bolt"
	"github.com/geminiwebhooks/receiver/adapters/gemini/geminitest"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
)

// End to end, acting on finished batches: the built local server, pointed
// at a loopback stand-in for the Gemini API, receives the built simulator's
// whole catalogue; the outputs land under the local sink byte for byte and
// the job ledger, read back with the server's own admin subcommands (online
// and, after it stops, from the state file), holds every job.
func TestLandingEndToEnd(t *testing.T) {
	bins := t.TempDir()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	build := func(pkg string) string {
		bin := filepath.Join(bins, filepath.Base(pkg))
		cmd := exec.Command("go", "build", "-o", bin, pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
		return bin
	}
	serverBin, simBin := build("./functions/local"), build("./scripts/simulator")

	api := geminitest.New("test")
	defer api.Close()
	api.SetAuto(3<<20 + 11) // every batch the simulator names succeeded with a 3 MiB output

	dir := t.TempDir()
	sink := filepath.Join(dir, "landed")
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + dir,
		"WEBHOOK_SIGNING_SECRET=" + secret,
		"GEMINI_API_KEY=test", "GOOGLE_GEMINI_BASE_URL=" + api.URL,
		"RESULTS_SINK=" + sink, "RETRY_BACKOFF=100ms",
	}
	stdout, err := os.CreateTemp(dir, "stdout-*.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	svc, err := testenv.StartProc(context.Background(), testenv.ProcSpec{
		Name: "local-landing",
		Argv: func(string) []string { return []string{serverBin} },
		Env: func(host string) []string {
			_, port, _ := strings.Cut(host, ":")
			return append([]string{"PORT=" + port}, env...)
		},
		Dir: dir, Stdout: stdout, Ready: testenv.HTTPAnswers, Timeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Stop)

	// The simulator's full run: every catalogue type, a duplicate, a stale,
	// a tampered and a malformed delivery.
	sim := exec.Command(simBin, "--url", "http://"+svc.Host, "--secret", secret, "--malformed", "--json", "--initial-backoff", "100ms")
	sim.Dir = dir
	var simErr bytes.Buffer
	sim.Stderr = &simErr
	if out, err := sim.Output(); err != nil {
		t.Fatalf("simulator: %v\n%s\n%s", err, out, simErr.String())
	}

	admin := func(args ...string) []json.RawMessage {
		t.Helper()
		list := args[len(args)-1] == "list"
		if list {
			args = append(args, "--json") // scripts read --json; people the tables
		}
		cmd := exec.Command(serverBin, args...)
		cmd.Dir, cmd.Env = dir, env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("local %v: %v\n%s", args, err, stderr.String())
		}
		if list {
			var items []json.RawMessage
			if err := json.Unmarshal(out, &items); err != nil {
				t.Fatalf("local %v: %v\n%s", args, err, out)
			}
			return items
		}
		var lines []json.RawMessage
		for _, l := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
			if len(l) > 0 {
				lines = append(lines, l)
			}
		}
		return lines
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(admin("tasks", "list")) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("queue not drained: %s", admin("tasks", "list"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	online := admin("jobs", "list")
	dead := admin("deadletters", "list")
	if len(dead) != 1 || !bytes.Contains(dead[0], []byte("not understood")) {
		t.Fatalf("dead letters while running: %s", dead)
	}
	var dl core.DeadLetter
	json.Unmarshal(dead[0], &dl)
	// Replayed through the running server, the malformed body is queued,
	// fails for good at once and is kept again.
	if out := admin("deadletters", "replay", dl.Key); len(out) != 1 || !bytes.Contains(out[0], []byte(dl.Key)) {
		t.Fatalf("replay answered %s", out)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if len(admin("tasks", "list")) == 0 && len(admin("deadletters", "list")) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the replayed dead letter did not come back")
		}
	}
	if again := admin("deadletters", "list"); !bytes.Contains(again[0], []byte("permanent failure")) {
		t.Fatalf("after replay: %s", again)
	}

	svc.Stop()
	if _, err := os.Stat(filepath.Join(dir, ".gemini-webhooks", "admin.json")); !os.IsNotExist(err) {
		t.Fatalf("admin.json left after a clean stop: %v", err)
	}
	offline := admin("jobs", "list") // now from the state file itself
	if len(offline) != len(online) {
		t.Fatalf("jobs online %d, offline %d", len(online), len(offline))
	}
	// Offline, a replay is queued in the file for the next start.
	admin("deadletters", "replay", dl.Key)
	if ts, dls := admin("tasks", "list"), admin("deadletters", "list"); len(ts) != 1 || len(dls) != 0 {
		t.Fatalf("offline replay: tasks %s, dead letters %s", ts, dls)
	}

	byKey := map[string]jobs.Job{}
	kinds := map[string]int{}
	var table []string
	// The ledger's whole records (jobs list --json shows a view of them).
	st, err := bolt.Open(filepath.Join(dir, ".gemini-webhooks", "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	ledger, err := bolt.NewLedger(st.DB())
	if err != nil {
		t.Fatal(err)
	}
	records, err := ledger.ListJobs(context.Background(), 0)
	st.Close()
	if err != nil || len(records) != len(offline) {
		t.Fatalf("ledger: %d records, %v; jobs list showed %d", len(records), err, len(offline))
	}
	for _, j := range records {
		byKey[j.LastEvent+" "+j.ID] = j
		kinds[j.LastEvent]++
		row := fmt.Sprintf("%-28s %-40s %-16s landing=%-7s", j.LastEvent, j.ID, j.State, j.Landing)
		if j.Output != nil {
			row += fmt.Sprintf(" %d bytes %d lines (%d ok, %d failed)", j.Output.Bytes, j.Output.Lines, j.Output.SucceededLines, j.Output.FailedLines)
		}
		if j.ErrorMessage != "" {
			row += " error=" + j.ErrorCode + ": " + j.ErrorMessage
		}
		table = append(table, row)
	}
	sort.Strings(table)
	t.Logf("the job ledger after the simulator's catalogue:\n%s", strings.Join(table, "\n"))

	// One job per catalogue event: batch.completed is folded into
	// batch.succeeded, so that type appears twice.
	want := map[string]struct {
		n       int
		state   jobs.JobState
		landing jobs.LandingState
	}{
		core.BatchSucceeded: {2, jobs.JobSucceeded, jobs.LandingLanded},
		// A batch's end is what the API says, not the event (issue 13,
		// finding 4): the stand-in reports every batch succeeded, so these land.
		core.BatchCancelled:            {1, jobs.JobSucceeded, jobs.LandingLanded},
		core.BatchExpired:              {1, jobs.JobSucceeded, jobs.LandingLanded},
		core.BatchFailed:               {1, jobs.JobSucceeded, jobs.LandingLanded},
		core.InteractionRequiresAction: {1, jobs.JobRequiresAction, jobs.LandingNone},
		core.InteractionCompleted:      {1, jobs.JobSucceeded, jobs.LandingNone},
		// and every interaction completed, so its failure and cancellation are not final.
		core.InteractionFailed:    {1, jobs.JobSucceeded, jobs.LandingNone},
		core.InteractionCancelled: {1, jobs.JobSucceeded, jobs.LandingNone},
		core.VideoGenerated:       {1, jobs.JobSucceeded, jobs.LandingLanded},
	}
	if len(byKey) != 10 {
		t.Fatalf("%d jobs in the ledger, want 10", len(byKey))
	}
	for typ, w := range want {
		if kinds[typ] != w.n {
			t.Errorf("%d %s jobs, want %d", kinds[typ], typ, w.n)
		}
	}
	for _, j := range byKey {
		w := want[j.LastEvent]
		if j.State != w.state || j.Landing != w.landing || len(j.Deliveries) == 0 {
			t.Errorf("%s: state %s landing %s, want %s %s", j.ID, j.State, j.Landing, w.state, w.landing)
		}
		if j.State == jobs.JobFailed && j.ErrorMessage == "" {
			t.Errorf("%s failed without a reason", j.ID)
		}
		if j.Landing != jobs.LandingLanded {
			continue
		}
		f, ok := api.FileOf(j.Source)
		if !ok {
			t.Fatalf("%s landed from %s, which the stand-in never served", j.ID, j.Source)
		}
		e := geminitest.Expect(f)
		path := strings.TrimPrefix(j.Output.URI, "file://")
		if !strings.HasPrefix(path, sink) {
			t.Fatalf("%s landed at %s, outside the sink %s", j.ID, path, sink)
		}
		h := sha256.New()
		file, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := io.Copy(h, file)
		file.Close()
		if n != e.Bytes || hex.EncodeToString(h.Sum(nil)) != e.SHA256 || j.Output.SHA256 != e.SHA256 ||
			j.Output.Lines != e.Lines || j.Output.FailedLines != e.FailedLines {
			t.Errorf("%s: landed %d bytes %+v; want %+v", j.ID, n, j.Output, e)
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(path), jobs.ManifestName)); err != nil {
			t.Errorf("%s: no manifest: %v", j.ID, err)
		}
		if api.Downloads(j.Source) != 1 {
			t.Errorf("%s downloaded %d times", j.Source, api.Downloads(j.Source))
		}
	}
	if api.TotalDownloads() != 6 {
		t.Errorf("%d downloads, want 6 (five batches, one video)", api.TotalDownloads())
	}
}
