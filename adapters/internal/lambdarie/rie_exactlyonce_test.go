package lambdarie

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
)

// instance is one Lambda execution environment: the bootstrap under its own
// emulator. The emulator fails a second invocation while one runs (Lambda
// would start another environment), so each takes one at a time.
type instance struct {
	rie
	mu        sync.Mutex
	processed int // deliveries it answered processed
}

// deliver sends a signed Function URL delivery of body with id to the
// instance and returns the status and outcome it answered (0 when the
// invocation itself failed: no answer, as after a crash).
func (in *instance) deliver(t testing.TB, id string, body []byte) (int, string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	d := delivery{name: "exactly-once", id: id, secret: secretNew, at: time.Now()}
	out, err := in.Invoke(context.Background(), d.event(t, body))
	if err != nil {
		return 0, ""
	}
	var resp events.LambdaFunctionURLResponse
	if json.Unmarshal(out, &resp) != nil {
		return 0, ""
	}
	var b struct {
		Outcome string `json:"outcome"`
	}
	_ = json.Unmarshal([]byte(resp.Body), &b)
	if b.Outcome == string(core.OutcomeProcessed) {
		in.processed++
	}
	return resp.StatusCode, b.Outcome
}

// kill ends the environment as a crash would: SIGKILL to the function's
// process (the emulator runs it in a process group of its own) and to the
// emulator's.
func (in *instance) kill(t testing.TB) {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	rie := in.Svc.Pid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp …; comm may hold spaces.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) > 2 && f[1] == strconv.Itoa(rie) {
			pgid, _ := strconv.Atoi(f[2])
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	in.Svc.Kill()
}

// storeUnderTest is an idempotency store the bootstraps share, on a table
// (or project) of its own, and its job ledger as the test reads it.
type storeUnderTest struct {
	env    map[string]string
	ledger jobs.Ledger
}

// TestExactlyOnceUnderRIE repeats the exactly-once proof with the real
// bootstrap under the Runtime Interface Emulator, for each store the Lambda
// can use: two execution environments (one emulator each) share the store
// and a user's handler counts its runs in a file.
//
//   - 300 deliveries, each sent 4 times, the copies of an id close together
//     and spread over both environments, every non-2xx retried as Gemini
//     would: every id is answered 2xx, its handler starts and ends exactly
//     once, and the ledger holds one succeeded job naming that delivery.
//   - A duplicate at the other environment of a delivery one completed is
//     answered 200 duplicate without running the handler.
//   - An environment SIGKILLed while its handler runs: the delivery, sent
//     to the other one, is answered 409 while the dead claim's lease runs
//     (it ends with the dead invocation's deadline), then taken over and
//     processed: the handler ends exactly once.
func TestExactlyOnceUnderRIE(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: 1200 deliveries through two emulators per store")
	}
	counting, err := testenv.BuildBootstrap(context.Background(), "testdata/counting", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"dynamodb", "firestore"} {
		t.Run(name, func(t *testing.T) {
			began := time.Now()
			st := openStoreUnderTest(t, name)
			runs := filepath.Join(t.TempDir(), "runs.log")
			env := map[string]string{
				"WEBHOOK_SIGNING_SECRET": secretNew,
				"RUNS_LOG":               runs,
				// The lease of a claim ends with the invocation's deadline.
				"AWS_LAMBDA_FUNCTION_TIMEOUT": "6",
			}
			for k, v := range st.env {
				env[k] = v
			}
			start := func(extra map[string]string) *instance {
				e := map[string]string{}
				for k, v := range env {
					e[k] = v
				}
				for k, v := range extra {
					e[k] = v
				}
				r, err := testenv.StartRIE(context.Background(), counting, e)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(r.Stop)
				return &instance{rie: rie{r}}
			}
			// The second one's handler hangs on msg_crash_… deliveries.
			procs := []*instance{start(nil), start(map[string]string{"HANG_PREFIX": "msg_crash_"})}

			const ids, copies = 300, 4
			type sent struct {
				id   string
				body []byte
			}
			var all []sent
			for i := range ids {
				id := fmt.Sprintf("msg_once_%03d", i)
				body := batchBody(strings.TrimPrefix(id, "msg_"), time.Now())
				for range copies {
					all = append(all, sent{id, body})
				}
			}
			// Shuffled within windows of 40: an id's copies stay close, so
			// they reach both environments at about the same moment; a
			// delivery's attempts alternate between them.
			testenv.ShuffleWindows(all, 40, rand.New(rand.NewPCG(3, 4)))
			answers, failures := testenv.Redeliver(len(all), 4, time.Now().Add(3*time.Minute), func(i, attempt int) int {
				status, _ := procs[(i+attempt)%len(procs)].deliver(t, all[i].id, all[i].body)
				return status
			})
			t.Logf("%d deliveries; answers by status over all attempts %v; %s", len(all), answers, time.Since(began).Round(time.Millisecond))
			if failures > 0 {
				t.Errorf("%d deliveries never got a 2xx", failures)
			}
			count := readRunsLog(t, runs)
			for i := range ids {
				id := fmt.Sprintf("msg_once_%03d", i)
				if count["start "+id] != 1 || count["done "+id] != 1 {
					t.Errorf("%s: handler started %d and ended %d times, want once", id, count["start "+id], count["done "+id])
				}
				checkJob(t, st.ledger, id)
			}
			for pi, p := range procs {
				t.Logf("environment %d processed %d ids", pi, p.processed)
				if p.processed == 0 {
					t.Errorf("environment %d processed nothing: the deliveries did not reach both", pi)
				}
			}

			// A duplicate at the other environment.
			dup := "msg_dup_1"
			body := batchBody("dup_1", time.Now())
			if s, o := procs[0].deliver(t, dup, body); s != 200 || o != string(core.OutcomeProcessed) {
				t.Fatalf("first delivery: %d %s, want 200 processed", s, o)
			}
			if s, o := procs[1].deliver(t, dup, body); s != 200 || o != string(core.OutcomeDuplicate) {
				t.Errorf("the same delivery at the other environment: %d %s, want 200 duplicate", s, o)
			}
			if c := readRunsLog(t, runs); c["start "+dup] != 1 || c["done "+dup] != 1 {
				t.Errorf("%s: handler started %d and ended %d times, want once", dup, c["start "+dup], c["done "+dup])
			}
			checkJob(t, st.ledger, dup)

			// A crash mid-delivery: environment 1 is SIGKILLed while its
			// handler runs; environment 0 answers 409 while the lease runs,
			// then takes the delivery over.
			crash := "msg_crash_1"
			body = batchBody("crash_1", time.Now())
			go procs[1].deliver(t, crash, body) // answers nothing: killed
			waitForRun(t, runs, "start "+crash)
			killed := time.Now()
			procs[1].kill(t)
			statuses := map[int]int{}
			var last, outcome = 0, ""
			for time.Since(killed) < time.Minute {
				last, outcome = procs[0].deliver(t, crash, body)
				statuses[last]++
				if last/100 == 2 {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			t.Logf("after the kill: answers %v, processed %s after it", statuses, time.Since(killed).Round(time.Millisecond))
			if last != 200 || outcome != string(core.OutcomeProcessed) {
				t.Fatalf("the delivery after the crash: last answer %d %s, want 200 processed", last, outcome)
			}
			if statuses[409] == 0 {
				t.Errorf("the other environment took the delivery over at once: the dead claim's lease was not respected (answers %v)", statuses)
			}
			if c := readRunsLog(t, runs); c["start "+crash] != 2 || c["done "+crash] != 1 {
				t.Errorf("%s: handler started %d times (want 2: the killed run and the takeover) and ended %d (want 1)", crash, c["start "+crash], c["done "+crash])
			}
			checkJob(t, st.ledger, crash)
		})
	}
}

// checkJob asserts the ledger holds one succeeded job for the delivery id
// (its batch is batches/<id without msg_>), naming the delivery once.
func checkJob(t *testing.T, l jobs.Ledger, id string) {
	t.Helper()
	job, err := l.GetJob(context.Background(), "batches/"+strings.TrimPrefix(id, "msg_"))
	if err != nil || job == nil {
		t.Errorf("%s: no job in the ledger (%v)", id, err)
		return
	}
	if job.State != jobs.JobSucceeded || len(job.Deliveries) != 1 || job.Deliveries[0] != id {
		t.Errorf("%s: job %s in state %s with deliveries %v, want succeeded with exactly this delivery", id, job.ID, job.State, job.Deliveries)
	}
}

// readRunsLog counts the lines of the handlers' runs log.
func readRunsLog(t *testing.T, path string) map[string]int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	c := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l != "" {
			c[l]++
		}
	}
	return c
}

// waitForRun waits until the runs log holds line.
func waitForRun(t *testing.T, path, line string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); readRunsLog(t, path)[line] == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the runs log after 30 s", line)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
