package local_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
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

// crashRig runs the slowhandler server (testdata) on one port and one
// state file across restarts, and plays Gemini against it.
type crashRig struct {
	t                      *testing.T
	bin, dir, host, secret string
	runsFile, statePath    string
	port                   int
	env                    []string // extra variables
	mu                     sync.Mutex
	acceptedAt             map[string]time.Time // when each delivery was answered 2xx
}

func newCrashRig(t *testing.T, env ...string) *crashRig {
	if testing.Short() {
		t.Skip("builds and crashes the local server")
	}
	dir := t.TempDir()
	bin, err := testenv.GoBuild("./adapters/local/testdata/slowhandler", dir)
	if err != nil {
		t.Fatal(err)
	}
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return &crashRig{t: t, bin: bin, dir: dir, port: port,
		host:   "127.0.0.1:" + strconv.Itoa(port), // the same on every start, as Gemini knows one URL
		secret: gemini.NewSecret(), runsFile: filepath.Join(dir, "runs.txt"), statePath: filepath.Join(dir, "state.db"),
		env: env, acceptedAt: map[string]time.Time{}}
}

// start runs the server as run number run (its handler records it).
func (c *crashRig) start(run int) *testenv.Service {
	c.t.Helper()
	svc, err := c.tryStart(run)
	if err != nil {
		c.t.Fatal(err)
	}
	return svc
}

// tryStart is start; the process may die before it is ready
// (testenv.ErrExited).
func (c *crashRig) tryStart(run int) (*testenv.Service, error) {
	stdout, err := os.Create(filepath.Join(c.dir, fmt.Sprintf("stdout-%d.jsonl", run)))
	if err != nil {
		return nil, err
	}
	defer stdout.Close()
	return testenv.StartProc(context.Background(), testenv.ProcSpec{
		Name: "slowhandler",
		Argv: func(string) []string { return []string{c.bin} },
		Env: func(string) []string {
			return append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + c.dir, "PORT=" + strconv.Itoa(c.port),
				"WEBHOOK_SIGNING_SECRET=" + c.secret, "STATE_PATH=" + c.statePath, "HANDLER_SLEEP=200ms",
				"RUNS_FILE=" + c.runsFile, "RUN=" + strconv.Itoa(run)}, c.env...)
		},
		Dir:     c.dir,
		Stdout:  stdout,
		Ready:   func(ctx context.Context, _ string) error { return testenv.HTTPAnswers(ctx, c.host) },
		Timeout: 30 * time.Second,
	})
}

// send delivers ds as Gemini does, each retried until it is answered 2xx,
// 32 at a time, in the background; wait returns when all are answered (or
// ctx ended).
func (c *crashRig) send(ctx context.Context, ds []gemini.Delivery) (wait func()) {
	sender := &gemini.Sender{Signer: gemini.StaticSigner{Secret: c.secret}, MaxAttempts: 1 << 20,
		InitialBackoff: 20 * time.Millisecond, MaxBackoff: 300 * time.Millisecond, Timeout: 5 * time.Second,
		Client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}}
	var senders sync.WaitGroup
	next := make(chan gemini.Delivery)
	for range 32 {
		senders.Go(func() {
			for d := range next {
				if r := sender.Send(ctx, "http://"+c.host+"/", d); r.Err == nil && r.Status/100 == 2 {
					c.mu.Lock()
					c.acceptedAt[d.ID] = time.Now()
					c.mu.Unlock()
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
	return senders.Wait
}

// accepted is a copy of the deliveries answered 2xx so far.
func (c *crashRig) accepted() map[string]time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.acceptedAt)
}

// deliveries makes n batch.failed events as Gemini sends them.
func deliveries(n int) []gemini.Delivery {
	ds := make([]gemini.Delivery, n)
	for i := range ds {
		ds[i] = gemini.Delivery{ID: gemini.NewID(), EventType: "batch.failed", Body: gemini.Payload("batch.failed")}
	}
	return ds
}

// The local server SIGKILLed again and again while a backlog waits, as an
// OOM killer or a crash loop would, and restarted at once each time: a
// crash charges an attempt only to the tasks it interrupted, so every
// delivery answered 2xx runs its handler, none runs again once its
// processing committed, and no dead letter is a task that never ran. (Each
// start used to charge every queued task: after MAX_ATTEMPTS crashes the
// backlog became dead letters that had never run.)
func TestKilledDuringBacklog(t *testing.T) {
	const (
		n      = 3000
		kills  = 8
		maxAtt = 5 // MAX_ATTEMPTS: fewer crashes than kills
	)
	c := newCrashRig(t, "MAX_ATTEMPTS="+strconv.Itoa(maxAtt))
	svc := c.start(1)
	defer func() { svc.Stop() }()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	sent := c.send(ctx, deliveries(n))

	// The crashes, at random moments. After each, the state file (nobody
	// holds it then) tells which accepted deliveries were settled by then:
	// they must never run in a later process.
	settledBy := map[string]int{} // delivery id → the run by whose end its task had left the queue
	backlog := make([]int, kills+1)
	for run := 1; run <= kills; run++ {
		time.Sleep(300*time.Millisecond + rand.N(600*time.Millisecond))
		svc.Kill()
		exited := time.Now()
		queued, dead := snapshot(t, c.statePath)
		backlog[run] = len(queued)
		for id, at := range c.accepted() {
			if _, ok := settledBy[id]; !ok && at.Before(exited) && !queued[id] {
				settledBy[id] = run
			}
		}
		svc = c.start(run + 1)
		t.Logf("kill %d: %d tasks queued, %d dead letters", run, len(queued), len(dead))
	}
	sent()
	acceptedAt := c.accepted()
	if len(acceptedAt) != n {
		t.Fatalf("%d of %d deliveries answered 2xx before the deadline", len(acceptedAt), n)
	}
	// The first MAX_ATTEMPTS crashes must each have interrupted a backlog,
	// or the test proved nothing (3,000 tasks of 200 ms on 128 lanes take
	// 4.7 s at least).
	if backlog[maxAtt] == 0 {
		t.Fatalf("the queue was empty at kill %d (backlogs %v): too few deliveries for these crashes", maxAtt, backlog)
	}

	c.drain(ctx, n)
	svc.Stop()
	svc = nil
	queued, dead := snapshot(t, c.statePath)
	runs := readRuns(t, c.runsFile)

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
		t.Errorf("%d of %d deliveries answered 2xx never ran their handler, e.g. %v", len(neverRan), n, first(neverRan))
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

// drain waits until n deliveries ran their handler to its end, or nothing
// moves for 5 s, or ctx ends.
func (c *crashRig) drain(ctx context.Context, n int) {
	last, lastChange := 0, time.Now()
	for {
		runs := readRuns(c.t, c.runsFile)
		if ended(runs) >= n || time.Since(lastChange) > 5*time.Second || ctx.Err() != nil {
			return
		}
		if l := records(runs); l != last {
			last, lastChange = l, time.Now()
		}
		time.Sleep(100 * time.Millisecond)
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

// records counts the lines of the handler's record.
func records(runs map[string][]handlerRun) int {
	n := 0
	for _, rs := range runs {
		n += len(rs)
	}
	return n
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

// A delivery whose handler takes the process down at every attempt (it
// SIGKILLs itself), sent among a backlog, the server restarted at once each
// time it dies: the crash loop ends after MAX_ATTEMPTS crashes with that
// delivery in the dead letters, and every other delivery runs to its end,
// none a dead letter. The poison's id comes first in the queue's order, so
// each restart starts it with the next 127 tasks. (Each start used to
// charge every queued task, and then only the interrupted ones, which were
// the same 127 each time: dead letters too.)
func TestPoisonEventCrashLoop(t *testing.T) {
	const n, maxAtt = 400, 5
	poison := gemini.Delivery{ID: "msg_000000000000000000poison", EventType: "batch.failed", Body: gemini.Payload("batch.failed")}
	c := newCrashRig(t, "MAX_ATTEMPTS="+strconv.Itoa(maxAtt), "POISON_ID="+poison.ID)
	svc := c.start(1)
	defer func() { svc.Stop() }()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	sent := make(chan struct{})
	go func() { c.send(ctx, slices.Insert(deliveries(n), n/4, poison))(); close(sent) }()

	crashes := 0
	restart := func() {
		for {
			svc.Kill() // reaps it
			crashes++
			if crashes > maxAtt {
				t.Fatalf("the server died %d times, MAX_ATTEMPTS is %d", crashes, maxAtt)
			}
			var err error
			if svc, err = c.tryStart(crashes + 1); err == nil {
				return
			} else if !errors.Is(err, testenv.ErrExited) {
				t.Fatal(err)
			}
		}
	}
	// Until all are answered, the server has lived 2 s since its last
	// start (the crash loop is over) and the backlog drained.
	started, sentAll := time.Now(), false
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-svc.Exited():
			restart()
			started = time.Now()
		case <-sent:
			sent, sentAll = nil, true
		case <-tick.C:
			if sentAll && time.Since(started) > 2*time.Second {
				c.drain(ctx, n)
				done = true
			}
		case <-ctx.Done():
			t.Fatal("the deliveries were not all answered 2xx in time")
		}
	}
	select {
	case <-svc.Exited():
		t.Fatal("the server died after the drain")
	default:
	}
	svc.Stop()
	svc = nil
	queued, dead := snapshot(t, c.statePath)
	runs := readRuns(t, c.runsFile)
	if len(c.accepted()) != n+1 {
		t.Fatalf("%d of %d deliveries answered 2xx", len(c.accepted()), n+1)
	}
	t.Logf("%d crashes; %d queued, %d dead letters; %d deliveries ran to their end", crashes, len(queued), len(dead), ended(runs))
	if crashes != maxAtt || len(runs[poison.ID]) != maxAtt {
		t.Errorf("the poison crashed the server %d times and started %d times, want %d", crashes, len(runs[poison.ID]), maxAtt)
	}
	if want := map[string]bool{poison.ID: true}; !maps.Equal(dead, want) {
		var keys []string
		for k := range dead {
			keys = append(keys, k)
		}
		t.Errorf("%d dead letters, want the poison only; e.g. %v", len(dead), first(keys))
	}
	if got := ended(runs); got != n {
		t.Errorf("%d deliveries ran to their end, want %d", got, n)
	}
	if len(queued) > 0 {
		t.Errorf("%d tasks still queued after the drain", len(queued))
	}
}

func first(ids []string) []string {
	slices.Sort(ids)
	return ids[:min(len(ids), 5)]
}
