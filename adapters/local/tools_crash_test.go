package local_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/gemini/geminitest"
	"github.com/geminiwebhooks/receiver/scripts/simulator/gemini"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
)

// The local server killed (SIGKILL) while a slow tool runs, then
// restarted: the round resumes from the local queue, the tool recorded
// before the crash does not run again, the interrupted one runs again (it
// had recorded nothing), and the interaction is continued once with both
// results.
func TestToolsKilledDuringSlowTool(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the local server")
	}
	dir := t.TempDir()
	bin, err := testenv.GoBuild("./adapters/local/testdata/slowtool", dir)
	if err != nil {
		t.Fatal(err)
	}
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	api := geminitest.New("k")
	defer api.Close()
	api.AddConversation("conv_k", geminitest.Conversation{
		Model:  "gemini-3-flash-preview",
		Rounds: []geminitest.Round{{Calls: []geminitest.Call{{ID: "k1", Name: "quick"}, {ID: "k2", Name: "slow"}}}, {}},
	})
	host, secret, runsFile := "127.0.0.1:"+strconv.Itoa(port), gemini.NewSecret(), filepath.Join(dir, "runs.txt")
	start := func(run int, sleep string) *testenv.Service {
		t.Helper()
		stdout, err := os.Create(filepath.Join(dir, fmt.Sprintf("stdout-%d.jsonl", run)))
		if err != nil {
			t.Fatal(err)
		}
		defer stdout.Close()
		svc, err := testenv.StartProc(context.Background(), testenv.ProcSpec{
			Name: "slowtool",
			Argv: func(string) []string { return []string{bin} },
			Env: func(string) []string {
				return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "PORT=" + strconv.Itoa(port),
					"WEBHOOK_SIGNING_SECRET=" + secret, "STATE_PATH=" + filepath.Join(dir, "state.db"),
					"GEMINI_API_KEY=k", "GOOGLE_GEMINI_BASE_URL=" + api.URL, "RETRY_BACKOFF=50ms",
					"TOOL_SLEEP=" + sleep, "RUNS_FILE=" + runsFile, "RUN=" + strconv.Itoa(run)}
			},
			Dir: dir, Stdout: stdout,
			Ready:   func(ctx context.Context, _ string) error { return testenv.HTTPAnswers(ctx, host) },
			Timeout: 30 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	lines := func() string {
		b, _ := os.ReadFile(runsFile)
		return string(b)
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("waited 30 s for %s; runs:\n%s", what, lines())
			}
		}
	}

	svc := start(1, "1h")
	body := []byte(`{"type":"interaction.requires_action","version":"v1","timestamp":"` + time.Now().UTC().Format(time.RFC3339) + `","data":{"id":"interactions/conv_k"}}`)
	sender := &gemini.Sender{Signer: gemini.StaticSigner{Secret: secret}, MaxAttempts: 1}
	if r := sender.Send(context.Background(), "http://"+host+"/", gemini.Delivery{ID: "msg_tools_1", Body: body}); r.Err != nil || r.Status/100 != 2 {
		t.Fatalf("delivery: %d %v", r.Status, r.Err)
	}
	waitFor("the slow tool to start", func() bool { return strings.Contains(lines(), "start 1 k2") })
	svc.Kill()

	svc = start(2, "10ms")
	defer svc.Stop()
	waitFor("the continuation", func() bool { return len(api.Continuations()) > 0 })
	waitFor("the slow tool's second run to end", func() bool { return strings.Contains(lines(), "end 2 k2") })
	adminShowsOneJob(t, bin, dir, []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "STATE_PATH=" + filepath.Join(dir, "state.db"),
		"TOOL_SLEEP=1ms", "RUNS_FILE=" + filepath.Join(dir, "admin-runs.txt"), "RUN=admin"})
	svc.Stop() // the queue drains: nothing else may come
	got := lines()
	if n := strings.Count(got, " k1\n"); n != 1 {
		t.Errorf("the quick tool ran %d times; want 1 (its result was recorded before the crash):\n%s", n, got)
	}
	if !strings.Contains(got, "start 1 k2") || !strings.Contains(got, "start 2 k2") || strings.Count(got, "start") != 3 {
		t.Errorf("want the slow tool once per run (interrupted, then again):\n%s", got)
	}
	conts := api.Continuations()
	if len(conts) != 1 || len(conts[0].Results) != 2 || conts[0].Results[0].Result != "quick done" || conts[0].Results[1].Result != `{"slept":"10ms"}` {
		t.Fatalf("continuations %+v; want one with both results", conts)
	}
}

// adminShowsOneJob runs the binary's admin commands while its server runs
// (so through the server's admin listener): the conversation, continued
// and waiting for its second round's events, is one job of two rounds and
// two tools, pending, not two records nor a stuck requires_action (issue
// 23).
func adminShowsOneJob(t *testing.T, bin, dir string, environ []string) {
	t.Helper()
	run := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env, cmd.Dir = environ, dir
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
		return out
	}
	type row struct {
		ID       string `json:"id"`
		State    string `json:"state"`
		Rounds   int    `json:"rounds"`
		ToolsRun int    `json:"tools_run"`
	}
	var list []row
	// The continuation's record is written just after the stand-in took it.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if err := json.Unmarshal(run("jobs", "list", "--json"), &list); err != nil {
			t.Fatal(err)
		}
		if len(list) == 1 && list[0].Rounds == 2 || time.Now().After(deadline) {
			break
		}
	}
	if want := (row{ID: "interactions/conv_k", State: "pending", Rounds: 2, ToolsRun: 2}); len(list) != 1 || list[0] != want {
		t.Errorf("jobs list --json through the server: %+v; want [%+v]", list, want)
	}
	var s struct {
		Where string         `json:"where"`
		Jobs  map[string]int `json:"jobs_by_state"`
		Stuck []row          `json:"stuck_requires_action"`
	}
	if err := json.Unmarshal(run("status", "--json", "--deliveries", "none"), &s); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.Where, "through the running local server") || !reflect.DeepEqual(s.Jobs, map[string]int{"pending": 1}) || len(s.Stuck) != 0 {
		t.Errorf("status --json through the server: %+v; want one pending job, none stuck", s)
	}
}
