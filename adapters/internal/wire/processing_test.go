package wire_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/geminiwebhooks/receiver/adapters/bolt"
	"github.com/geminiwebhooks/receiver/adapters/gemini/geminitest"
	"github.com/geminiwebhooks/receiver/adapters/internal/env"
	"github.com/geminiwebhooks/receiver/adapters/internal/wire"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
	"github.com/geminiwebhooks/receiver/core/tasks"
	"github.com/geminiwebhooks/receiver/scripts/simulator/gemini"
)

// The proofs of acting on finished batches, with real parts: the receiver
// as wire builds it (bbolt store, ledger and queue, embedded worker), a
// loopback stand-in for the Gemini API, a folder or an in-process fake GCS
// as the sink, and deliveries signed as Gemini signs them.

const (
	secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	apiKey = "test"
)

type receiver struct {
	t     *testing.T
	app   *wire.App
	url   string
	sink  string // the folder, when the sink is one
	state string
	env   map[string]string
	stop  func()
}

// start builds the receiver from env (on top of the defaults below) and
// serves it on loopback.
func start(t *testing.T, api *geminitest.Server, env map[string]string) *receiver {
	t.Helper()
	dir := t.TempDir()
	full := map[string]string{
		"WEBHOOK_SIGNING_SECRET": secret,
		"STATE_PATH":             filepath.Join(dir, "state.db"),
		"RESULTS_SINK":           filepath.Join(dir, "results"),
		"GEMINI_API_KEY":         apiKey,
		"GOOGLE_GEMINI_BASE_URL": api.URL,
		"RETRY_BACKOFF":          "50ms",
	}
	for k, v := range env {
		full[k] = v
	}
	return startEnv(t, full)
}

func startEnv(t *testing.T, vars map[string]string) *receiver {
	t.Helper()
	return startMux(t, vars, nil)
}

// startMux is startEnv with the user's mux (nil: an empty one).
func startMux(t *testing.T, vars map[string]string, mux *core.Mux) *receiver {
	t.Helper()
	getenv := func(k string) string { return vars[k] }
	cfg, err := env.Load(getenv, env.Local)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	app, err := wire.Build(context.Background(), cfg, mux, wire.Options{Logger: log, LocalQueue: true, Cloud: testCloud()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app.Receiver)
	r := &receiver{t: t, app: app, url: srv.URL, sink: vars["RESULTS_SINK"], state: vars["STATE_PATH"], env: vars}
	var once sync.Once
	r.stop = func() { once.Do(func() { srv.Close(); app.Close() }) }
	t.Cleanup(r.stop)
	return r
}

// deliver sends one delivery and returns the status.
func (r *receiver) deliver(id string, body []byte) int {
	r.t.Helper()
	s := &gemini.Sender{Signer: gemini.StaticSigner{Secret: secret}, MaxAttempts: 1}
	res := s.Send(context.Background(), r.url, gemini.Delivery{ID: id, Body: body})
	if res.Err != nil {
		r.t.Fatal(res.Err)
	}
	return res.Status
}

func batchEvent(typ, id, output string) []byte {
	b, _ := json.Marshal(map[string]any{
		"type": typ, "version": "v1", "timestamp": time.Now().UTC().Format(time.RFC3339),
		"data": map[string]any{"id": id, "output_file_uri": output},
	})
	return b
}

// job waits until the ledger's record of id satisfies done.
func (r *receiver) job(id string, done func(*jobs.Job) bool) *jobs.Job {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		j, err := r.app.Processing.Ledger.GetJob(context.Background(), id)
		if err != nil {
			r.t.Fatal(err)
		}
		if j != nil && done(j) {
			return j
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("job %s: %+v never got there", id, j)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func landed(j *jobs.Job) bool { return j.Landing == jobs.LandingLanded }

// idle waits until the local queue is empty.
func (r *receiver) idle() {
	r.t.Helper()
	if r.app.Processing.Tasks == nil {
		return // no local queue: every delivery was processed before its answer
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ts, err := r.app.Processing.Tasks.ListTasks(context.Background())
		if err != nil {
			r.t.Fatal(err)
		}
		if len(ts) == 0 {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("queue still holds %+v", ts)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkLanded compares what landed under the folder sink with what the
// stand-in served, and the manifest and ledger with both.
func checkLanded(t *testing.T, j *jobs.Job, folder string, f geminitest.File) {
	t.Helper()
	want := geminitest.Expect(f)
	path := filepath.Join(folder, filepath.FromSlash(jobs.JobPath(j.ID)), "results.jsonl")
	got, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	h := sha256.New()
	n, _ := io.Copy(h, got)
	if n != want.Bytes || hex.EncodeToString(h.Sum(nil)) != want.SHA256 {
		t.Fatalf("landed %d bytes with another digest; want %d bytes, sha256 %s", n, want.Bytes, want.SHA256)
	}
	mb, err := os.ReadFile(filepath.Join(filepath.Dir(path), jobs.ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	var m jobs.Manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		t.Fatal(err)
	}
	for name, o := range map[string]*jobs.Manifest{"manifest": &m, "ledger": j.Output} {
		if o.Bytes != want.Bytes || o.SHA256 != want.SHA256 || o.Lines != want.Lines || o.SucceededLines != want.SucceededLines ||
			o.FailedLines != want.FailedLines || o.Source != f.Name || o.JobID != j.ID || !strings.HasPrefix(o.URI, "file://") {
			t.Fatalf("%s %+v, want %+v from %s", name, o, want, f.Name)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 2 {
		t.Fatalf("job folder holds %d entries, want the output and its manifest", len(entries))
	}
}

func TestBatchLandsInFolder(t *testing.T) {
	api := geminitest.New(apiKey)
	defer api.Close()
	f := geminitest.File{Name: "files/batch-out-1", Size: 5<<20 + 123, Seed: 1}
	api.AddFile(f)
	api.AddBatch("batches/one", geminitest.Batch{State: "BATCH_STATE_SUCCEEDED", OutputFile: f.Name})
	r := start(t, api, nil)

	md := map[string]any{"job_group": "nightly-eval"}
	body, _ := json.Marshal(map[string]any{"type": "batch.succeeded", "version": "v1", "timestamp": time.Now().UTC().Format(time.RFC3339),
		"data": map[string]any{"id": "batches/one", "output_file_uri": "files/from-the-event", "user_metadata": md}})
	if st := r.deliver("msg_one", body); st != http.StatusAccepted {
		t.Fatalf("status %d, want 202 (queued durably)", st)
	}
	j := r.job("batches/one", landed)
	checkLanded(t, j, r.sink, f)
	if j.State != jobs.JobSucceeded || j.APIState != "JOB_STATE_SUCCEEDED" || j.Source != f.Name || j.UserMetadata["job_group"] != "nightly-eval" ||
		len(j.Deliveries) != 1 || j.Deliveries[0] != "msg_one" || j.LandingAttempts != 1 {
		t.Fatalf("ledger: %+v", j)
	}
}

// Two deliveries of one batch (two ids, one of them with the
// batch.completed alias) at the same time: one download, one copy.
func TestTwoDeliveriesLandOnce(t *testing.T) {
	api := geminitest.New(apiKey)
	defer api.Close()
	f := geminitest.File{Name: "files/out-two", Size: 3 << 20, Seed: 2}
	api.AddFile(f)
	api.AddBatch("batches/two", geminitest.Batch{State: "BATCH_STATE_SUCCEEDED", OutputFile: f.Name})
	r := start(t, api, nil)

	var wg sync.WaitGroup
	for i, typ := range []string{"batch.succeeded", "batch.completed"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if st := r.deliver(fmt.Sprint("msg_two_", i), batchEvent(typ, "batches/two", f.Name)); st != http.StatusAccepted {
				t.Errorf("status %d", st)
			}
		}()
	}
	wg.Wait()
	r.idle()
	j := r.job("batches/two", landed)
	checkLanded(t, j, r.sink, f)
	if api.Downloads(f.Name) != 1 {
		t.Fatalf("%d downloads, want 1", api.Downloads(f.Name))
	}
	if len(j.Deliveries) != 2 {
		t.Fatalf("deliveries %v", j.Deliveries)
	}
	// A third delivery later asks nothing and downloads nothing.
	gets := api.BatchGets("batches/two")
	r.deliver("msg_two_late", batchEvent("batch.succeeded", "batches/two", f.Name))
	r.idle()
	if api.Downloads(f.Name) != 1 || api.BatchGets("batches/two") != gets {
		t.Fatalf("late delivery: %d downloads, %d→%d batch reads", api.Downloads(f.Name), gets, api.BatchGets("batches/two"))
	}
}

// A download cut off midway fails the attempt and leaves no partial file;
// the retry lands the whole output.
func TestCutDownloadIsRetried(t *testing.T) {
	api := geminitest.New(apiKey)
	defer api.Close()
	f := geminitest.File{Name: "files/out-cut", Size: 4 << 20, Seed: 3, CutAfter: 2 << 20, CutTimes: 1}
	api.AddFile(f)
	api.AddBatch("batches/cut", geminitest.Batch{State: "BATCH_STATE_SUCCEEDED", OutputFile: f.Name})
	r := start(t, api, nil)
	r.deliver("msg_cut", batchEvent("batch.succeeded", "batches/cut", f.Name))
	j := r.job("batches/cut", landed)
	checkLanded(t, j, r.sink, f)
	if api.Downloads(f.Name) != 2 || j.LandingAttempts != 2 || j.LandingError != "" {
		t.Fatalf("%d downloads, ledger %+v; want 2 downloads, 2 landing attempts", api.Downloads(f.Name), j)
	}
	filepath.Walk(r.sink, func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.Contains(info.Name(), ".partial-") {
			t.Errorf("partial file left: %s", p)
		}
		return nil
	})
}

// A batch the API reports failed lands nothing; the ledger says why.
func TestFailedBatchLandsNothing(t *testing.T) {
	api := geminitest.New(apiKey)
	defer api.Close()
	api.AddFile(geminitest.File{Name: "files/out-f", Size: 1000})
	api.AddBatch("batches/f", geminitest.Batch{State: "BATCH_STATE_FAILED", OutputFile: "files/out-f"})
	r := start(t, api, nil)
	r.deliver("msg_f", batchEvent("batch.succeeded", "batches/f", "files/out-f"))
	j := r.job("batches/f", func(j *jobs.Job) bool { return j.State.Terminal() })
	r.idle()
	if j.State != jobs.JobFailed || j.ErrorMessage != "the Gemini API reports JOB_STATE_FAILED" || j.Landing != jobs.LandingNone || j.Output != nil {
		t.Fatalf("ledger: %+v", j)
	}
	if api.Downloads("files/out-f") != 0 {
		t.Fatal("downloaded a failed batch's file")
	}
	if entries, _ := os.ReadDir(r.sink); len(entries) != 0 {
		t.Fatalf("sink holds %v", entries)
	}
	// batch.failed records Gemini's code and message once the API confirms
	// the failure (issue 13, finding 4: an event alone is not final).
	api.AddBatch("batches/g", geminitest.Batch{State: "BATCH_STATE_FAILED"})
	body, _ := json.Marshal(map[string]any{"type": "batch.failed", "version": "v1", "data": map[string]any{"id": "batches/g", "error_code": 3, "error_message": "line 17 is not JSON"}})
	r.deliver("msg_g", body)
	j = r.job("batches/g", func(j *jobs.Job) bool { return j.State == jobs.JobFailed })
	if j.ErrorCode != "3" || j.ErrorMessage != "line 17 is not JSON" {
		t.Fatalf("batch.failed: %+v", j)
	}
}

func TestBatchLandsInGCS(t *testing.T) {
	gcs, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer gcs.Stop()
	gcs.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "landing"})
	t.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(gcs.URL(), "http://"))

	api := geminitest.New(apiKey)
	defer api.Close()
	f := geminitest.File{Name: "files/out-gcs", Size: 9<<20 + 7, Seed: 4} // over one upload chunk
	api.AddFile(f)
	api.AddBatch("batches/gcs", geminitest.Batch{State: "BATCH_STATE_SUCCEEDED", OutputFile: f.Name})
	r := start(t, api, map[string]string{"RESULTS_SINK": "gs://landing/gemini"})
	r.deliver("msg_gcs", batchEvent("batch.succeeded", "batches/gcs", f.Name))
	j := r.job("batches/gcs", landed)

	want := geminitest.Expect(f)
	obj, err := gcs.GetObject("landing", "gemini/batches/gcs/results.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(obj.Content)
	if int64(len(obj.Content)) != want.Bytes || hex.EncodeToString(sum[:]) != want.SHA256 {
		t.Fatalf("object: %d bytes; want %d", len(obj.Content), want.Bytes)
	}
	man, err := gcs.GetObject("landing", "gemini/batches/gcs/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var m jobs.Manifest
	json.Unmarshal(man.Content, &m)
	if m.SHA256 != want.SHA256 || m.Lines != want.Lines || m.FailedLines != want.FailedLines || m.URI != "gs://landing/gemini/batches/gcs/results.jsonl" {
		t.Fatalf("manifest %+v", m)
	}
	if j.ManifestURI != "gs://landing/gemini/batches/gcs/manifest.json" || j.Output.SHA256 != want.SHA256 {
		t.Fatalf("ledger %+v", j)
	}
	list, err := gcs.ListObjectsWithOptionsPaginated("landing", fakestorage.ListOptions{})
	if err != nil || len(list.Objects) != 2 {
		t.Fatalf("bucket holds %d objects (%v), want 2", len(list.Objects), err)
	}
}

// A job that keeps failing becomes a dead letter after MAX_ATTEMPTS, with
// its reason; replayed once the cause is gone, it lands.
func TestDeadLetterAndReplay(t *testing.T) {
	api := geminitest.New(apiKey)
	defer api.Close()
	api.AddBatch("batches/dl", geminitest.Batch{State: "BATCH_STATE_SUCCEEDED", OutputFile: "files/out-dl"})
	r := start(t, api, map[string]string{"MAX_ATTEMPTS": "3"})
	r.deliver("msg_dl", batchEvent("batch.succeeded", "batches/dl", "files/out-dl"))
	r.idle()
	dls, err := deadLetters(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 1 || dls[0].Key != "msg_dl" || dls[0].Attempts != 3 || !strings.Contains(dls[0].Reason, "not found") || dls[0].EventType != "batch.succeeded" {
		t.Fatalf("dead letters %+v", dls)
	}
	j, _ := r.app.Processing.Ledger.GetJob(context.Background(), "batches/dl")
	if j.Landing != jobs.LandingPending || !strings.Contains(j.LandingError, "not found") {
		t.Fatalf("ledger %+v", j)
	}

	f := geminitest.File{Name: "files/out-dl", Size: 100_000, Seed: 5}
	api.AddFile(f)
	if err := r.app.Processing.Local.Replay(context.Background(), "msg_dl"); err != nil {
		t.Fatal(err)
	}
	checkLanded(t, r.job("batches/dl", landed), r.sink, f)
	if dls, _ := deadLetters(r); len(dls) != 0 {
		t.Fatalf("dead letter still kept after a successful replay: %+v", dls)
	}
}

func deadLetters(r *receiver) ([]core.DeadLetter, error) {
	return r.app.Store.(core.DeadLetters).ListDeadLetters(context.Background(), 0)
}

// The queue and the ledger are in the state file: a task a crash left is
// resumed on start, and after a restart a batch already landed is not
// landed again.
func TestDurableAcrossRestart(t *testing.T) {
	api := geminitest.New(apiKey)
	defer api.Close()
	f := geminitest.File{Name: "files/out-rs", Size: 200_000, Seed: 6}
	api.AddFile(f)
	api.AddBatch("batches/rs", geminitest.Batch{State: "BATCH_STATE_SUCCEEDED", OutputFile: f.Name})
	dir := t.TempDir()
	state := filepath.Join(dir, "state.db")

	// What a crash right after the 202 leaves: the task in the file.
	s, err := bolt.Open(state)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := bolt.NewTasks(s.DB())
	ev, _ := core.ParseEvent(batchEvent("batch.succeeded", "batches/rs", f.Name))
	ev.Delivery = core.Delivery{ID: "msg_rs", Scheme: core.SchemeStatic}
	if err := q.PutTask(context.Background(), tasks.NewTask(ev, time.Now())); err != nil {
		t.Fatal(err)
	}
	s.Close()

	vars := map[string]string{"STATE_PATH": state, "RESULTS_SINK": filepath.Join(dir, "results")}
	r := start(t, api, vars)
	checkLanded(t, r.job("batches/rs", landed), filepath.Join(dir, "results"), f)
	r.idle()
	r.stop()

	r2 := start(t, api, vars)
	if st := r2.deliver("msg_rs_again", batchEvent("batch.succeeded", "batches/rs", f.Name)); st != http.StatusAccepted {
		t.Fatalf("status %d", st)
	}
	r2.idle()
	if api.Downloads(f.Name) != 1 {
		t.Fatalf("%d downloads across a restart, want 1", api.Downloads(f.Name))
	}
	j := r2.job("batches/rs", landed)
	if len(j.Deliveries) != 2 {
		t.Fatalf("deliveries %v", j.Deliveries)
	}
}

// A worker that crashed in the middle of a landing left the ledger saying
// it was landing (its lease now over), a partial file, and its task in the
// queue. On restart the task runs again, takes the landing over, removes
// the partial file and lands one whole copy.
func TestCrashedLandingIsRedone(t *testing.T) {
	api := geminitest.New(apiKey)
	defer api.Close()
	f := geminitest.File{Name: "files/out-crash", Size: 1 << 20, Seed: 10}
	api.AddFile(f)
	api.AddBatch("batches/crash", geminitest.Batch{State: "BATCH_STATE_SUCCEEDED", OutputFile: f.Name})
	dir := t.TempDir()
	state, results := filepath.Join(dir, "state.db"), filepath.Join(dir, "results")
	ctx := context.Background()

	s, err := bolt.Open(state)
	if err != nil {
		t.Fatal(err)
	}
	l, _ := bolt.NewLedger(s.DB())
	q, _ := bolt.NewTasks(s.DB())
	ev, _ := core.ParseEvent(batchEvent("batch.succeeded", "batches/crash", f.Name))
	ev.Delivery = core.Delivery{ID: "msg_crash", Scheme: core.SchemeStatic}
	past := time.Now().Add(-time.Minute)
	l.UpdateJob(ctx, "batches/crash", func(j *jobs.Job) (*jobs.Job, error) {
		j = jobs.ApplyEvent(j, ev, past)
		j = jobs.ApplyBatchStatus(j, jobs.BatchStatus{APIState: "JOB_STATE_SUCCEEDED", State: jobs.JobSucceeded, OutputFile: f.Name}, past)
		_, j = jobs.ClaimLanding(j, "crashed-owner", past, past.Add(time.Second))
		return j, nil
	})
	task := tasks.NewTask(ev, past)
	task.Attempts = 1
	q.PutTask(ctx, task)
	s.Close()
	partial := filepath.Join(results, "batches", "crash", ".results.jsonl.partial-crashed")
	os.MkdirAll(filepath.Dir(partial), 0o755)
	os.WriteFile(partial, []byte("{\"response\":"), 0o644)

	r := start(t, api, map[string]string{"STATE_PATH": state, "RESULTS_SINK": results})
	j := r.job("batches/crash", landed)
	checkLanded(t, j, results, f)
	if j.LandingAttempts != 2 || api.Downloads(f.Name) != 1 {
		t.Fatalf("landing attempts %d, downloads %d; want 2 and 1", j.LandingAttempts, api.Downloads(f.Name))
	}
	if _, err := os.Stat(partial); !os.IsNotExist(err) {
		t.Fatalf("partial file still there: %v", err)
	}
}

// Without a local queue (the cloud, until QUEUE is set) events are
// processed inline: 200 once the output has landed.
func TestInlineProcessing(t *testing.T) {
	api := geminitest.New(apiKey)
	defer api.Close()
	f := geminitest.File{Name: "files/out-in", Size: 300_000, Seed: 7}
	api.AddFile(f)
	api.AddBatch("batches/in", geminitest.Batch{State: "BATCH_STATE_SUCCEEDED", OutputFile: f.Name})
	r := start(t, api, map[string]string{"IDEMPOTENCY_STORE": "memory"})
	if r.app.Processing.Local != nil {
		t.Fatal("a worker without a local queue")
	}
	if st := r.deliver("msg_in", batchEvent("batch.succeeded", "batches/in", f.Name)); st != http.StatusOK {
		t.Fatalf("status %d, want 200", st)
	}
	j, _ := r.app.Processing.Ledger.GetJob(context.Background(), "batches/in")
	if j == nil || j.Landing != jobs.LandingLanded {
		t.Fatalf("not landed when answered: %+v", j)
	}
	checkLanded(t, j, r.sink, f)
}

// Notifications after the ledger: the forward is signed with our secret
// (verified here with the Standard Webhooks library) under the first
// delivery's id; Slack gets one summary; neither is sent twice for a
// second delivery of the same batch.
func TestNotifications(t *testing.T) {
	const fwdSecret = "whsec_dGVzdC1mb3J3YXJkLXNlY3JldC0wMTIzNDU2Nzg5"
	verifier, _ := standardwebhooks.NewWebhook(fwdSecret)
	var mu sync.Mutex
	var forwards, slack []string
	fwdFails := 1 // the first forward attempt fails: it is retried
	fwd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if err := verifier.Verify(b, r.Header); err != nil {
			t.Errorf("forward does not verify: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if fwdFails > 0 {
			fwdFails--
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var e struct{ Type string }
		json.Unmarshal(b, &e)
		forwards = append(forwards, r.Header.Get("webhook-id")+" "+e.Type)
	}))
	defer fwd.Close()
	sl := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct{ Text string }
		json.NewDecoder(r.Body).Decode(&m)
		mu.Lock()
		slack = append(slack, m.Text)
		mu.Unlock()
	}))
	defer sl.Close()

	api := geminitest.New(apiKey)
	defer api.Close()
	f := geminitest.File{Name: "files/out-n", Size: 50_000, Seed: 8}
	api.AddFile(f)
	api.AddBatch("batches/n", geminitest.Batch{State: "BATCH_STATE_SUCCEEDED", OutputFile: f.Name})
	r := start(t, api, map[string]string{"FORWARD_URL": fwd.URL, "FORWARD_SIGNING_SECRET": fwdSecret, "SLACK_WEBHOOK_URL": sl.URL + "/services/T/B/x"})
	r.deliver("msg_n1", batchEvent("batch.succeeded", "batches/n", f.Name))
	r.idle()
	r.deliver("msg_n2", batchEvent("batch.succeeded", "batches/n", f.Name))
	r.idle()
	j := r.job("batches/n", landed)
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(forwards) != "[msg_n1 batch.succeeded]" {
		t.Fatalf("forwards %v", forwards)
	}
	if len(slack) != 1 || !strings.Contains(slack[0], "batches/n") || !strings.Contains(slack[0], "succeeded") || !strings.Contains(slack[0], j.Output.URI) {
		t.Fatalf("slack %q", slack)
	}
	if n := j.Notices["forward:batch.succeeded"]; n.DeliveryID != "msg_n1" || n.SentAt.IsZero() {
		t.Fatalf("ledger notices %+v", j.Notices)
	}
}
