package local_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/bolt"
	"github.com/geminiwebhooks/receiver/scripts/simulator/gemini"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
)

// The local server SIGKILLed again and again while a backlog waits, as an
// OOM killer or a crash loop would, and restarted at once each time: a
// crash charges an attempt only to the tasks it interrupted, so every
// delivery answered 2xx runs its handler, none runs again once its
// processing committed, and no dead letter is a task that never ran. (Each
// start used to charge every queued task: after MAX_ATTEMPTS crashes the
// backlog became dead letters that had never run.)
func TestKilledDuringBacklog(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and crashes the local server")
	}
	const (
		deliveries = 3000
		kills      = 8
		maxAtt     = 5 // MAX_ATTEMPTS: fewer crashes than kills
		handler    = 200 * time.Millisecond
	)
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "slowhandler")
	build := exec.Command("go", "build", "-o", bin, "./adapters/local/testdata/slowhandler")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	host := "127.0.0.1:" + strconv.Itoa(port) // the same on every start, as Gemini knows one URL
	secret, runsFile, statePath := gemini.NewSecret(), filepath.Join(dir, "runs.txt"), filepath.Join(dir, "state.db")
	start := func(run int) *testenv.Service {
		t.Helper()
		stdout, err := os.Create(filepath.Join(dir, fmt.Sprintf("stdout-%d.jsonl", run)))
		if err != nil {
			t.Fatal(err)
		}
		defer stdout.Close()
		svc, err := testenv.StartProc(context.Background(), testenv.ProcSpec{
			Name: "slowhandler",
			Argv: func(string) []string { return []string{bin} },
			Env: func(string) []string {
				return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "PORT=" + strconv.Itoa(port),
					"WEBHOOK_SIGNING_SECRET=" + secret, "STATE_PATH=" + statePath, "MAX_ATTEMPTS=" + strconv.Itoa(maxAtt),
					"HANDLER_SLEEP=" + handler.String(), "RUNS_FILE=" + runsFile, "RUN=" + strconv.Itoa(run)}
			},
			Dir:     dir,
			Stdout:  stdout,
			Ready:   func(ctx context.Context, _ string) error { return testenv.HTTPAnswers(ctx, host) },
			Timeout: 30 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}

	// Gemini: every delivery retried until it is answered 2xx; acceptedAt
	// is when that answer came.
	var mu sync.Mutex
	acceptedAt := make(map[string]time.Time, deliveries)
	ds := make([]gemini.Delivery, deliveries)
	for i := range ds {
		ds[i] = gemini.Delivery{ID: gemini.NewID(), EventType: "batch.failed", Body: gemini.Payload("batch.failed")}
	}
	svc := start(1)
	defer func() { svc.Stop() }()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	sender := &gemini.Sender{Signer: gemini.StaticSigner{Secret: secret}, MaxAttempts: 1 << 20,
		InitialBackoff: 20 * time.Millisecond, MaxBackoff: 300 * time.Millisecond, Timeout: 5 * time.Second,
		Client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}}
	var senders sync.WaitGroup
	next := make(chan gemini.Delivery)
	for range 32 {
		senders.Go(func() {
			for d := range next {
				if r := sender.Send(ctx, "http://"+host+"/", d); r.Err == nil && r.Status/100 == 2 {
					mu.Lock()
					acceptedAt[d.ID] = time.Now()
					mu.Unlock()
				}
			}
		})
	}
	go func() {
		defer close(next)
		for _, d := range ds {
			select {
			case next <- d:
			case <-ctx.Done():
				return
			}
		}
	}()

	// The crashes, at random moments. After each, the state file (nobody
	// holds it then) tells which accepted deliveries were settled by then:
	// they must never run in a later process.
	settledBy := map[string]int{} // delivery id → the run by whose end its task had left the queue
	backlog := make([]int, kills+1)
	for run := 1; run <= kills; run++ {
		time.Sleep(300*time.Millisecond + rand.N(600*time.Millisecond))
		svc.Kill()
		exited := time.Now()
		queued, dead := snapshot(t, statePath)
		backlog[run] = len(queued)
		mu.Lock()
		for id, at := range acceptedAt {
			if _, ok := settledBy[id]; !ok && at.Before(exited) && !queued[id] {
				settledBy[id] = run
			}
		}
		mu.Unlock()
		svc = start(run + 1)
		t.Logf("kill %d: %d tasks queued, %d dead letters", run, len(queued), len(dead))
	}
	senders.Wait()
	if len(acceptedAt) != deliveries {
		t.Fatalf("%d of %d deliveries answered 2xx before the deadline", len(acceptedAt), deliveries)
	}
	// The first MAX_ATTEMPTS crashes must each have interrupted a backlog,
	// or the test proved nothing (3,000 tasks of 200 ms on 128 lanes take
	// 4.7 s at least).
	if backlog[maxAtt] == 0 {
		t.Fatalf("the queue was empty at kill %d (backlogs %v): too few deliveries for these crashes", maxAtt, backlog)
	}

	// Drain: until every delivery ran to its end, or nothing moves for 5 s.
	last, lastChange := 0, time.Now()
	for {
		runs := readRuns(t, runsFile)
		if ended(runs) == deliveries || time.Since(lastChange) > 5*time.Second || ctx.Err() != nil {
			break
		}
		if len(runs) != last {
			last, lastChange = len(runs), time.Now()
		}
		time.Sleep(100 * time.Millisecond)
	}
	svc.Stop()
	svc = nil
	queued, dead := snapshot(t, statePath)
	runs := readRuns(t, runsFile)

	var neverRan, deadNeverRan, ranAgain []string
	for id := range acceptedAt {
		if len(runs[id]) == 0 {
			neverRan = append(neverRan, id)
		}
		if k, ok := settledBy[id]; ok {
			for _, r := range runs[id] {
				if r.start && r.run > k {
					ranAgain = append(ranAgain, fmt.Sprintf("%s (settled by kill %d, started in run %d)", id, k, r.run))
				}
			}
		}
	}
	for id := range dead {
		if len(runs[id]) == 0 {
			deadNeverRan = append(deadNeverRan, id)
		}
	}
	t.Logf("backlog at each kill %v; after the drain: %d queued, %d dead letters; %d deliveries ran to their end", backlog[1:], len(queued), len(dead), ended(runs))
	if len(neverRan) > 0 {
		t.Errorf("%d of %d deliveries answered 2xx never ran their handler, e.g. %v", len(neverRan), deliveries, first(neverRan))
	}
	if len(deadNeverRan) > 0 {
		t.Errorf("%d dead letters never ran their handler, e.g. %v", len(deadNeverRan), first(deadNeverRan))
	}
	if len(ranAgain) > 0 {
		t.Errorf("%d deliveries ran again after their processing committed, e.g. %v", len(ranAgain), first(ranAgain))
	}
	if len(queued) > 0 {
		t.Errorf("%d tasks still queued after the drain", len(queued))
	}
}

// snapshot reads the tasks queued and the dead letters in the state file of
// a stopped server.
func snapshot(t *testing.T, path string) (queued, dead map[string]bool) {
	t.Helper()
	s, err := bolt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q, err := bolt.NewTasks(s.DB())
	if err != nil {
		t.Fatal(err)
	}
	ts, err := q.ListTasks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	dl, err := s.ListDeadLetters(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	queued, dead = make(map[string]bool, len(ts)), make(map[string]bool, len(dl))
	for _, x := range ts {
		queued[x.ID] = true
	}
	for _, d := range dl {
		dead[d.Key] = true
	}
	return queued, dead
}

// handlerRun is one line of the handler's record.
type handlerRun struct {
	start bool // else its end
	run   int
}

// readRuns reads the handler's record, by delivery id.
func readRuns(t *testing.T, path string) map[string][]handlerRun {
	t.Helper()
	out := map[string][]handlerRun{}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return out
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		run, err := 0, error(nil)
		if len(fs) == 3 {
			run, err = strconv.Atoi(fs[1])
		}
		if len(fs) != 3 || err != nil {
			t.Fatalf("runs file: %q", sc.Text())
		}
		out[fs[2]] = append(out[fs[2]], handlerRun{start: fs[0] == "start", run: run})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// ended counts the deliveries whose handler ran to its end at least once.
func ended(runs map[string][]handlerRun) int {
	n := 0
	for _, rs := range runs {
		if slices.ContainsFunc(rs, func(r handlerRun) bool { return !r.start }) {
			n++
		}
	}
	return n
}

func first(ids []string) []string {
	slices.Sort(ids)
	return ids[:min(len(ids), 5)]
}
