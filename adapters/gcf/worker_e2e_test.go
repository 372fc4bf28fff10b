package gcf

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	ps "cloud.google.com/go/pubsub/v2"

	"github.com/geminiwebhooks/receiver/adapters/bolt"
	"github.com/geminiwebhooks/receiver/adapters/gemini/geminitest"
	"github.com/geminiwebhooks/receiver/core/jobs"
	"github.com/geminiwebhooks/receiver/scripts/simulator/gemini"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
	"github.com/geminiwebhooks/receiver/scripts/testenv/pubsubtest"
)

// The emulator is started by the first test that needs it and stopped by TestMain.
var emulator struct {
	once sync.Once
	svc  *testenv.Service
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if emulator.svc != nil {
		emulator.svc.Stop()
	}
	os.Exit(code)
}

// useEmulator points the process at the Pub/Sub emulator, starting it once.
func useEmulator(t testing.TB) {
	t.Helper()
	emulator.once.Do(func() { emulator.svc, emulator.err = testenv.StartPubSub(context.Background()) })
	if emulator.err != nil {
		t.Fatal(emulator.err)
	}
	t.Setenv("PUBSUB_EMULATOR_HOST", emulator.svc.Host)
}

// workerProcess is GeminiWorker served by the Functions Framework in its
// own process, as Cloud Run serves it: functions/gcp/serve with
// FUNCTION_TARGET=GeminiWorker.
type workerProcess struct {
	url  string
	cmd  *exec.Cmd
	out  *bytes.Buffer
	mu   *sync.Mutex
	done chan struct{}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func startWorkerProcess(t testing.TB, env map[string]string) *workerProcess {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "serve")
	build := exec.Command("go", "build", "-o", bin, "./functions/gcp/serve")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), "FUNCTION_TARGET=" + WorkerEntryPoint, "K_SERVICE=" + WorkerEntryPoint,
		"PORT=" + strconv.Itoa(port), "CLOUD_RUN_TIMEOUT_SECONDS=60"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &workerProcess{url: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, out: &bytes.Buffer{}, mu: &sync.Mutex{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = lockedWriter{p.mu, p.out}, lockedWriter{p.mu, p.out}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(p.stop)
	for deadline := time.Now().Add(20 * time.Second); ; {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(p.url, "http://"), time.Second)
		if err == nil {
			c.Close()
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("worker exited:\n%s", p.logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker not listening: %v\n%s", err, p.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *workerProcess) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

func (p *workerProcess) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// tasks counts the worker's "task" log lines per webhook id and outcome.
func (p *workerProcess) tasks() map[string]map[string]int {
	n := map[string]map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(p.logs()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil || m["message"] != "task" {
			continue
		}
		id, _ := m["webhook_id"].(string)
		if n[id] == nil {
			n[id] = map[string]int{}
		}
		n[id][fmt.Sprint(m["outcome"])]++
	}
	return n
}

// The Google Cloud path end to end, every part real but the cloud:
// GeminiWebhook (QUEUE=pubsub:…) → the Pub/Sub emulator → a push
// subscription with a dead-letter policy (5 attempts) → GeminiWorker in its
// own process behind the Functions Framework → a folder sink.
//   - a delivery lands its output once, and a redelivered message costs nothing;
//   - a message that always fails is pushed 5 times and ends in the dead-letter topic;
//   - a poison message is kept as a dead letter in the store and acknowledged at once.
func TestPubSubPathEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the function and runs the Pub/Sub emulator")
	}
	useEmulator(t)
	const project = "gcp-worker-proof"
	ctx := context.Background()
	client, err := ps.NewClient(ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	api := geminitest.New(workerAPIKey)
	defer api.Close()
	f := geminitest.File{Name: "files/out-e2e", Size: 5<<20 + 1, Seed: 31}
	api.AddFile(f)
	api.AddBatch("batches/e2e", geminitest.Batch{State: "BATCH_STATE_SUCCEEDED", OutputFile: f.Name})
	api.AddBatch("batches/never", geminitest.Batch{State: "BATCH_STATE_SUCCEEDED", OutputFile: "files/never"})

	dir := t.TempDir()
	results, state := filepath.Join(dir, "results"), filepath.Join(dir, "state.db")
	worker := startWorkerProcess(t, map[string]string{
		"IDEMPOTENCY_STORE": "file", "STATE_PATH": state, "RESULTS_SINK": results,
		"GEMINI_API_KEY": workerAPIKey, "GOOGLE_GEMINI_BASE_URL": api.URL,
	})
	topicID := fmt.Sprintf("gemini-events-%d", time.Now().UnixNano()%1e9)
	topic := "projects/" + project + "/topics/" + topicID
	// The emulator's push carries no CloudEvent headers: the Functions
	// Framework converts it when the path names the topic.
	s, err := pubsubtest.Create(ctx, client, topicID, pubsubtest.Options{
		PushEndpoint: worker.url + "/" + topic, MaxAttempts: 5, MinRetry: time.Second, MaxRetry: 2 * time.Second, AckDeadline: 60 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}

	secret := gemini.NewSecret()
	receiver := newWebhook(envOf(map[string]string{"WEBHOOK_SIGNING_SECRET": secret, "IDEMPOTENCY_STORE": "memory", "QUEUE": "pubsub:" + topic, "PUBSUB_EMULATOR_HOST": emulator.svc.Host}), newLogger(&syncBuffer{}), nil)
	t.Cleanup(func() { receiver.Close() })
	deliver := func(id, body string) {
		t.Helper()
		if status, a := serve(t, receiver, delivery{id: id, ts: time.Now().Unix(), body: body}.request(secret)); status != 202 || a.Outcome != "queued" {
			t.Fatalf("delivery %s: %d %q (%s), want 202 queued", id, status, a.Outcome, a.Reason)
		}
	}

	// 1. A delivery lands once.
	good := `{"type":"batch.succeeded","version":"v1","data":{"id":"batches/e2e","output_file_uri":"` + f.Name + `"}}`
	start := time.Now()
	deliver("msg_e2e", good)
	answered := time.Since(start)
	manifest := filepath.Join(results, "batches", "e2e", jobs.ManifestName)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		if _, err := os.Stat(manifest); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not landed after 30s; worker log:\n%s", worker.logs())
		}
	}
	landed := time.Since(start)
	want := geminitest.Expect(f)
	if fi, err := os.Stat(filepath.Join(results, "batches", "e2e", "results.jsonl")); err != nil || fi.Size() != want.Bytes {
		t.Fatalf("landed %v %v, want %d bytes", fi, err, want.Bytes)
	}
	t.Logf("Pub/Sub path: delivery → 202 in %s; delivery → landed (%d MiB, manifest written) in %s",
		answered.Round(100*time.Microsecond), f.Size>>20, landed.Round(time.Millisecond))

	// 2. The same message delivered twice more, as Pub/Sub may: acknowledged, not landed again.
	// The manifest lands before the worker completes the task's claim; a
	// redelivery inside that window is answered 500 (Pub/Sub retries it), so
	// the check waits for the task's log line, which follows the completion.
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(worker.logs(), `"outcome":"processed"`); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("task not completed after 30s; worker log:\n%s", worker.logs())
		}
	}
	push, _ := json.Marshal(map[string]any{"subscription": s.Subscription, "message": map[string]any{
		"data": []byte(good), "messageId": "redelivered-1", "publishTime": time.Now().UTC().Format(time.RFC3339Nano),
		"attributes": map[string]string{"webhook_id": "msg_e2e", "scheme": "static", "event_type": "batch.succeeded", "job_id": "batches/e2e"}}})
	for i := range 2 {
		resp, err := http.Post(worker.url+"/"+topic, "application/json", bytes.NewReader(push))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("redelivery %d: %d\n%s", i+1, resp.StatusCode, worker.logs())
		}
	}
	if n := api.Downloads(f.Name); n != 1 {
		t.Fatalf("%d downloads for three deliveries of one message, want 1", n)
	}

	// 3. A message that always fails (the output never appears), and a
	// poison one published by hand (its body is no event).
	start = time.Now()
	deliver("msg_never", `{"type":"batch.succeeded","version":"v1","data":{"id":"batches/never"}}`)
	if _, err := client.Publisher(topic).Publish(ctx, &ps.Message{Data: []byte("not an event"), Attributes: map[string]string{"webhook_id": "msg_poison"}}).Get(ctx); err != nil {
		t.Fatal(err)
	}
	dead, err := pubsubtest.Pull(ctx, client, s.DeadLetterSub, 1, 2*time.Second, 60*time.Second)
	if err != nil {
		t.Fatalf("%v; worker log:\n%s", err, worker.logs())
	}
	if len(dead) != 1 || dead[0].Message.Attributes["webhook_id"] != "msg_never" || dead[0].Message.Attributes["CloudPubSubDeadLetterSourceDeliveryCount"] != "5" ||
		string(dead[0].Message.Data) != `{"type":"batch.succeeded","version":"v1","data":{"id":"batches/never"}}` {
		t.Fatalf("dead-letter topic holds %v, want msg_never after 5 attempts", dead)
	}
	t.Logf("Pub/Sub: failing message in the dead-letter topic after 5 pushes, %s", time.Since(start).Round(time.Millisecond))

	tasks := worker.tasks()
	// The redeliveries of msg_e2e find its task claim completed: nothing runs twice.
	if fmt.Sprint(tasks["msg_e2e"]) != "map[duplicate:2 processed:1]" || fmt.Sprint(tasks["msg_never"]) != "map[retry:5]" || fmt.Sprint(tasks["msg_poison"]) != "map[dead_letter:1]" {
		t.Fatalf("worker attempts %v; want msg_e2e processed once then duplicate 2×, msg_never retried 5×, msg_poison dead-lettered once", tasks)
	}
	worker.stop()
	st, err := bolt.Open(state)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kept, err := st.ListDeadLetters(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(kept) != 1 || kept[0].Key != "msg_poison" || string(kept[0].Body) != "not an event" {
		t.Fatalf("store dead letters %+v, want msg_poison only", kept)
	}
}
