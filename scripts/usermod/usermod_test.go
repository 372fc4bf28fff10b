package usermod_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	ps "cloud.google.com/go/pubsub/v2"
	"github.com/aws/aws-lambda-go/events"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/geminiwebhooks/receiver/adapters/gemini/geminitest"
	"github.com/geminiwebhooks/receiver/adapters/webhooktest"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
	"github.com/geminiwebhooks/receiver/scripts/testenv/pubsubtest"
)

const (
	secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	apiKey = "usermod-api-key"
)

// built is the user's module and its three binaries, made once.
var built struct {
	once                    sync.Once
	err                     error
	dir, local, gcf, lambda string
}

func userModule(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: builds a user's module for three runtimes")
	}
	built.once.Do(func() {
		root, err := testenv.RepoRoot()
		if err != nil {
			built.err = err
			return
		}
		dir, err := os.MkdirTemp("", "usermod-")
		if err != nil {
			built.err = err
			return
		}
		built.dir = dir
		if built.err = testenv.WriteUserModule(dir, root); built.err != nil {
			return
		}
		bin := filepath.Join(dir, "bin")
		for _, b := range []struct {
			out *string
			pkg string
		}{{&built.local, "./local"}, {&built.gcf, "./gcfserve"}} {
			*b.out = filepath.Join(bin, filepath.Base(b.pkg))
			cmd := exec.Command("go", "build", "-o", *b.out, b.pkg)
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				built.err = fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
				return
			}
		}
		built.lambda, built.err = testenv.BuildBootstrap(context.Background(), filepath.Join(dir, "lambda"), filepath.Join(bin, "lambda"))
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
}

func TestMain(m *testing.M) {
	// TestReadmeModule puts this binary on the user's PATH as sam.
	if filepath.Base(os.Args[0]) == "sam" {
		os.Exit(samStandIn(os.Args[1:]))
	}
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// The wiring a user writes per runtime stays within 15 lines.
func TestWiringLines(t *testing.T) {
	userModule(t)
	for _, f := range testenv.UserWiringFiles {
		n, err := testenv.CodeLines(filepath.Join(built.dir, f))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d lines", f, n)
		if n > 15 {
			t.Errorf("%s: %d lines of wiring, want at most 15", f, n)
		}
	}
}

// body is batch.succeeded for job; a redelivery carries the same bytes.
func body(job string) []byte {
	return []byte(`{"type":"batch.succeeded","version":"v1","timestamp":"2026-12-01T10:00:00Z","data":{"id":"batches/` + job + `","output_file_uri":"files/` + job + `-output"}}`)
}

// signed is a delivery as Gemini sends it: Standard Webhooks headers over body.
func signed(t *testing.T, id string, b []byte) http.Header {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	sig, err := wh.Sign(id, now, b)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("content-type", "application/json")
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	h.Set("webhook-signature", sig)
	return h
}

type answer struct {
	Status  int
	Outcome string `json:"outcome"`
}

func post(t *testing.T, url, id string, b []byte) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	req.Header = signed(t, id, b)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	a := answer{Status: resp.StatusCode}
	_ = json.NewDecoder(resp.Body).Decode(&a)
	return a
}

// runs is what the user's handlers recorded, "who delivery" → count, and
// each one's notes (the save handler's, the tools' interaction/call_id, the
// done handler's conversation).
type runs struct {
	count map[string]int
	notes map[string][]string
}

func readRuns(t *testing.T, log string) runs {
	t.Helper()
	r := runs{count: map[string]int{}, notes: map[string][]string{}}
	b, err := os.ReadFile(log)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(l, " ", 4)
		if len(f) < 3 {
			continue
		}
		r.count[f[0]+" "+f[1]]++
		if len(f) == 4 {
			r.notes[f[0]] = append(r.notes[f[0]], f[3])
		}
	}
	return r
}

// waitFor polls the handlers' log until every want entry is there.
func waitFor(t *testing.T, log string, logs func() string, want ...string) runs {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := readRuns(t, log)
		missing := ""
		for _, w := range want {
			if r.count[w] == 0 {
				missing = w
			}
		}
		if missing == "" {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("handler run %q never came; runs %v\n%s", missing, r.count, logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// check asserts what every runtime must show for a delivery of job that
// failed once in the audit handler and succeeded on its retry: one landing,
// the save handler ran after the results landed (on each attempt), audit
// ran once to success, and the duplicate sent afterwards ran nothing.
func check(t *testing.T, api *geminitest.Server, r runs, id, job string, failedFirst bool) {
	t.Helper()
	if n := api.Downloads(geminitest.AutoOutput("batches/" + job)); n != 1 {
		t.Errorf("%s: %d downloads, want 1 landing", job, n)
	}
	wantSave, wantFailed := 1, 0
	if failedFirst {
		wantSave, wantFailed = 2, 1
	}
	if r.count["save "+id] != wantSave || r.count["audit "+id] != 1 || r.count["audit-failed "+id] != wantFailed {
		t.Errorf("%s: runs %v; want save %d, audit 1, audit-failed %d", id, r.count, wantSave, wantFailed)
	}
	for _, n := range r.notes["save"] {
		if !strings.HasPrefix(n, "lines=") || strings.HasSuffix(n, "bytes=0") {
			t.Errorf("save saw %q, want the landed results", n)
		}
	}
}

func standIn(t *testing.T) *geminitest.Server {
	api := geminitest.New(apiKey)
	t.Cleanup(api.Close)
	api.SetAuto(32 << 10)
	return api
}

func processEnv(t *testing.T, api *geminitest.Server, log string, extra map[string]string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"GEMINI_API_KEY=" + apiKey, "GOOGLE_GEMINI_BASE_URL=" + api.URL, "RESULTS_SINK=" + filepath.Join(t.TempDir(), "results"),
		"USERMOD_LOG=" + log, "USERMOD_FAIL_FIRST=" + t.TempDir(), "RETRY_BACKOFF=100ms"}
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	return env
}

func startProc(t *testing.T, name, bin string, env []string) *testenv.Service {
	t.Helper()
	svc, err := testenv.StartProc(context.Background(), testenv.ProcSpec{
		Name:    name,
		Argv:    func(string) []string { return []string{bin} },
		Env:     func(host string) []string { return append(env, "PORT="+host[strings.LastIndex(host, ":")+1:]) },
		Dir:     t.TempDir(),
		Ready:   testenv.HTTPAnswers,
		Timeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Stop)
	return svc
}

// The local server: the user's main calls local.Main.
func TestLocalServer(t *testing.T) {
	userModule(t)
	api := standIn(t)
	log := filepath.Join(t.TempDir(), "runs.log")
	srv := startProc(t, "usermod-local", built.local, processEnv(t, api, log, map[string]string{
		"WEBHOOK_SIGNING_SECRET": secret, "STATE_PATH": filepath.Join(t.TempDir(), "state.db")}))
	url := "http://" + srv.Host
	ids := map[string]string{"L1": "msg_L1", "L2": "msg_L2-retry"}
	for job, id := range ids {
		if a := post(t, url, id, body(job)); a.Status != http.StatusAccepted {
			t.Fatalf("%s: %d %s, want 202 (durably queued)", job, a.Status, a.Outcome)
		}
	}
	waitFor(t, log, srv.LogText, "audit msg_L1", "audit msg_L2-retry")
	for job, id := range ids {
		if a := post(t, url, id, body(job)); a.Status != http.StatusOK || a.Outcome != string(core.OutcomeDuplicate) {
			t.Errorf("duplicate %s: %d %s, want 200 duplicate", job, a.Status, a.Outcome)
		}
	}
	r := readRuns(t, log)
	check(t, api, r, "msg_L1", "L1", false)
	check(t, api, r, "msg_L2-retry", "L2", true)
	inspectorLists(t, srv.LogText(), "msg_L1", "msg_L2-retry")
	agentRounds(t, api, "local_agent", log, srv.LogText, func(id string, b []byte) int { return post(t, url, id, b).Status })
	simulateAgent(t, url, api, srv.LogText)
	simulate(t, url, log, srv.LogText)
}

// inspectorLists opens the inspector's tokenised URL, which the user's
// local.Main binary printed at start (output), as a browser would (the
// session cookie kept, the redirect followed), and finds ids in its
// deliveries list, rendered by the server; the bare URL gets 401.
func inspectorLists(t *testing.T, output string, ids ...string) {
	t.Helper()
	m := regexp.MustCompile(`http://127\.0\.0\.1:\d+/inspector/\S*token=\S+`).FindString(output)
	if m == "" {
		t.Fatalf("no inspector URL printed at start:\n%s", output)
	}
	bare := m[:strings.Index(m, "?")]
	if resp, err := http.Get(bare); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bare inspector URL: %v %v, want 401", resp, err)
	} else {
		resp.Body.Close()
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Jar: jar}).Get(m)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("inspector: %d\n%s", resp.StatusCode, page)
	}
	for _, id := range ids {
		if !strings.Contains(string(page), id) {
			t.Errorf("the inspector's deliveries list lacks %s:\n%s", id, page)
		}
	}
}

// agentRounds proves the user's two tools on a runtime: the stand-in
// scripts a conversation of two rounds, each calling lookup and weigh,
// then the end; deliver (a signed delivery of id and body, answered 2xx,
// safe to call from two goroutines) brings each round's
// interaction.requires_action three times: under two ids at the same
// moment, then the first id again. Every (interaction, call id) runs once,
// each round is continued once with its function_result steps, the
// handler after the tools runs once per delivery id, and the
// interaction.completed of the last round reaches the user's handler with
// the conversation's first interaction.
func agentRounds(t *testing.T, api *geminitest.Server, first, log string, logs func() string, deliver func(id string, b []byte) int) {
	t.Helper()
	conv := geminitest.Conversation{Model: "gemini-3-flash-preview"}
	for r := range 2 {
		var round geminitest.Round
		for _, tool := range []string{"lookup", "weigh"} {
			round.Calls = append(round.Calls, geminitest.Call{ID: fmt.Sprintf("%s%d", tool, r+1), Name: tool, Args: map[string]any{"q": r + 1}})
		}
		conv.Rounds = append(conv.Rounds, round)
	}
	conv.Rounds = append(conv.Rounds, geminitest.Round{})
	api.AddConversation(first, conv)
	event := func(typ, interaction string) []byte {
		return []byte(`{"type":"` + typ + `","version":"v1","timestamp":"2026-12-01T10:00:00Z","data":{"id":"interactions/` + interaction + `"}}`)
	}
	cur := first
	wantRan, once := map[string]int{}, []string{}
	for r, round := range conv.Rounds[:2] {
		b := event(core.InteractionRequiresAction, cur)
		ids := []string{"msg_" + cur, "msg_" + cur + "-again"}
		once = append(once, "acted "+ids[0], "acted "+ids[1])
		status := make([]int, 3)
		var wg sync.WaitGroup
		for i, id := range ids {
			wg.Go(func() { status[i] = deliver(id, b) })
		}
		wg.Wait()
		status[2] = deliver(ids[0], b) // Gemini's redelivery
		for i, st := range status {
			if st/100 != 2 {
				t.Fatalf("round %d: requires_action %s: %d\n%s", r+1, ids[i%2], st, logs())
			}
		}
		waitFor(t, log, logs, "acted "+ids[0], "acted "+ids[1])
		var conts []geminitest.Continuation
		for _, c := range api.Continuations() {
			if c.Previous == cur {
				conts = append(conts, c)
			}
		}
		var want []geminitest.Result
		for _, c := range round.Calls {
			res := "weighed " + c.ID
			if c.Name == "lookup" {
				res = fmt.Sprintf(`{"found":"{\"q\":%d}"}`, r+1)
			}
			want = append(want, geminitest.Result{CallID: c.ID, Name: c.Name, Result: res})
			wantRan[cur+"/"+c.ID] = 1
		}
		if len(conts) != 1 || !reflect.DeepEqual(conts[0].Results, want) || !conts[0].Background || !conts[0].Store {
			t.Fatalf("round %d of %s: continuations %+v; want one with %+v\n%s", r+1, first, conts, want, logs())
		}
		cur = conts[0].ID
	}
	end := "msg_" + cur + "-completed"
	if st := deliver(end, event(core.InteractionCompleted, cur)); st/100 != 2 {
		t.Fatalf("interaction.completed %s: %d\n%s", cur, st, logs())
	}
	runs := waitFor(t, log, logs, "done "+end)
	ran := map[string]int{}
	for _, n := range runs.notes["tool"] {
		ran[n]++
	}
	for k, n := range ran {
		if strings.HasPrefix(k, first) && n != wantRan[k] {
			t.Errorf("tool run %s: %d times, want once (every run %v)", k, n, ran)
		}
	}
	for k := range wantRan {
		if ran[k] == 0 {
			t.Errorf("tool run %s never came (every run %v)", k, ran)
		}
	}
	for _, who := range append(once, "done "+end) {
		if runs.count[who] != 1 {
			t.Errorf("%s: ran %d times, want once", who, runs.count[who])
		}
	}
	if slices.Index(runs.notes["done"], "interactions/"+first) < 0 {
		t.Errorf("the done handler saw conversations %q, want interactions/%s", runs.notes["done"], first)
	}
}

// simulateAgent runs the simulator's agent scenario against url: two rounds
// of the user's two tools, each continued once, then the end.
func simulateAgent(t *testing.T, url string, api *geminitest.Server, logs func() string) {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "run", "./scripts/simulator", "--url", url, "--secret", secret,
		"--scenario", "agent", "--standin", api.URL, "--tools", "lookup,weigh", "--rounds", "2")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok: 2 rounds of 2 tools, one continuation each") {
		t.Fatalf("simulator --scenario agent: %v\n%s\n%s", err, out, logs())
	}
}

// simulate runs the simulator's whole catalogue against url (every event
// type, a duplicate, a stale and a tampered delivery, retried like Gemini)
// and checks that the user's two handlers ran exactly once for each
// batch.succeeded (or batch.completed, its alias) it delivered, and for
// nothing else.
func simulate(t *testing.T, url, log string, logs func() string) {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	before := readRuns(t, log)
	cmd := exec.Command("go", "run", "./scripts/simulator", "--url", url, "--secret", secret, "--json")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("simulator: %v\n%s\n%s", err, out, logs())
	}
	var want []string
	sent := map[string]bool{} // every delivery id the simulator used
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var d struct {
			EventType string `json:"event_type"`
			WebhookID string `json:"webhook_id"`
			Outcome   string `json:"outcome"`
		}
		err := json.Unmarshal([]byte(l), &d)
		sent[d.WebhookID] = err == nil
		if err != nil || d.Outcome == string(core.OutcomeDuplicate) || d.Outcome == string(core.OutcomeRejected) {
			continue
		}
		switch d.EventType {
		case core.BatchSucceeded, "batch.completed":
			want = append(want, "save "+d.WebhookID, "audit "+d.WebhookID)
		case core.InteractionRequiresAction:
			want = append(want, "acted "+d.WebhookID) // the stand-in reports it completed: no tool runs
		case core.InteractionCompleted:
			want = append(want, "done "+d.WebhookID)
		}
	}
	if len(want) == 0 {
		t.Fatalf("the simulator delivered no batch.succeeded:\n%s", out)
	}
	r := waitFor(t, log, logs, want...)
	// Runs of other deliveries may still come in (the agent scenario's
	// last handlers): only the simulator's count.
	added := 0
	for k, n := range r.count {
		if _, id, _ := strings.Cut(k, " "); sent[id] {
			added += n - before.count[k]
		}
	}
	for _, w := range want {
		if r.count[w] != 1 {
			t.Errorf("%s ran %d times, want once", w, r.count[w])
		}
	}
	if added != len(want) {
		t.Errorf("the simulator's deliveries ran %d handlers, want %d (two per batch.succeeded, one per interaction.requires_action or interaction.completed): %v", added, len(want), r.count)
	}
}

// Cloud Functions: GeminiWebhook publishes to the Pub/Sub emulator and
// GeminiWorker, pushed to by its subscription, runs the handlers.
func TestCloudFunctions(t *testing.T) {
	userModule(t)
	ctx := context.Background()
	emu, err := testenv.StartPubSub(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Stop)
	t.Setenv("PUBSUB_EMULATOR_HOST", emu.Host)
	const project = "usermod"
	client, err := ps.NewClient(ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	api := standIn(t)
	log := filepath.Join(t.TempDir(), "runs.log")
	worker := startProc(t, "usermod-gcf-worker", built.gcf, processEnv(t, api, log, map[string]string{
		"FUNCTION_TARGET": "GeminiWorker", "K_SERVICE": "GeminiWorker", "PUBSUB_EMULATOR_HOST": emu.Host,
		"IDEMPOTENCY_STORE": "file", "STATE_PATH": filepath.Join(t.TempDir(), "state.db")}))
	topic := "projects/" + project + "/topics/events"
	if _, err := pubsubtest.Create(ctx, client, "events", pubsubtest.Options{PushEndpoint: "http://" + worker.Host + "/" + topic, AckDeadline: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	receiver := startProc(t, "usermod-gcf", built.gcf, []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"FUNCTION_TARGET=GeminiWebhook", "K_SERVICE=GeminiWebhook", "PUBSUB_EMULATOR_HOST=" + emu.Host,
		"IDEMPOTENCY_STORE=memory", "WEBHOOK_SIGNING_SECRET=" + secret, "QUEUE=pubsub:" + topic})
	url := "http://" + receiver.Host
	logs := func() string { return worker.LogText() + receiver.LogText() }
	if a := post(t, url, "msg_G1-retry", body("G1")); a.Status != http.StatusAccepted || a.Outcome != string(core.OutcomeQueued) {
		t.Fatalf("GeminiWebhook: %d %s, want 202 queued\n%s", a.Status, a.Outcome, receiver.LogText())
	}
	waitFor(t, log, logs, "audit msg_G1-retry")
	if a := post(t, url, "msg_G1-retry", body("G1")); a.Status != http.StatusOK || a.Outcome != string(core.OutcomeDuplicate) {
		t.Errorf("duplicate: %d %s, want 200 duplicate", a.Status, a.Outcome)
	}
	check(t, api, readRuns(t, log), "msg_G1-retry", "G1", true)
	agentRounds(t, api, "gcf_agent", log, logs, func(id string, b []byte) int { return post(t, url, id, b).Status })
	simulate(t, url, log, logs)
}

// functionURL is the Lambda Function URL event of a signed delivery.
func functionURL(t *testing.T, id string, b []byte) events.LambdaFunctionURLRequest {
	h := signed(t, id, b)
	ev := events.LambdaFunctionURLRequest{Version: "2.0", RawPath: "/", Headers: map[string]string{}, Body: string(b)}
	for k := range h {
		ev.Headers[strings.ToLower(k)] = h.Get(k)
	}
	ev.RequestContext.HTTP.Method = http.MethodPost
	ev.RequestContext.HTTP.Path = "/"
	ev.RequestContext.RequestID = id
	return ev
}

// Lambda: the user's main calls lambda.Start; Function URL deliveries run
// the handlers inline (a failed one is answered 5xx and retried by Gemini),
// and an SQS batch runs them per record.
func TestLambda(t *testing.T) {
	userModule(t)
	ctx := context.Background()
	api := standIn(t)
	log := filepath.Join(t.TempDir(), "runs.log")
	env := map[string]string{}
	for _, kv := range processEnv(t, api, log, map[string]string{"IDEMPOTENCY_STORE": "memory", "WEBHOOK_SIGNING_SECRET": secret}) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	r, err := testenv.StartRIE(ctx, built.lambda, env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	invoke := func(ev any) events.LambdaFunctionURLResponse {
		t.Helper()
		out, err := r.Invoke(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		var resp events.LambdaFunctionURLResponse
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		return resp
	}
	// Gemini retries a 5xx: the first attempt fails in audit, the retry succeeds.
	if resp := invoke(functionURL(t, "msg_F1-retry", body("F1"))); resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("first attempt: %d %s, want 500 (audit fails once)", resp.StatusCode, resp.Body)
	}
	for _, id := range []string{"msg_F1-retry", "msg_F2"} {
		if resp := invoke(functionURL(t, id, body(strings.TrimSuffix(id[4:], "-retry")))); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s, want 200", id, resp.StatusCode, resp.Body)
		}
		if resp := invoke(functionURL(t, id, body(strings.TrimSuffix(id[4:], "-retry")))); resp.StatusCode != http.StatusOK || !strings.Contains(resp.Body, `"duplicate"`) {
			t.Fatalf("duplicate of %s: %d %s, want 200 duplicate", id, resp.StatusCode, resp.Body)
		}
	}
	check(t, api, readRuns(t, log), "msg_F1-retry", "F1", true)
	check(t, api, readRuns(t, log), "msg_F2", "F2", false)
	// An instance takes one invocation at a time (the emulator fails a
	// second one while the first runs; Lambda would start another
	// instance): the two deliveries agentRounds sends at once queue here.
	var one sync.Mutex
	agentRounds(t, api, "lambda_agent", log, r.Svc.LogText, func(id string, b []byte) int {
		one.Lock()
		defer one.Unlock()
		return invoke(functionURL(t, id, b)).StatusCode
	})

	// An SQS batch of two deliveries of one new job: both records fail
	// their first attempt in audit and are reported for redelivery; the
	// redelivered batch succeeds; the batch lands once.
	var batch events.SQSEvent
	for _, id := range []string{"msg_S1-retry", "msg_S2-retry"} {
		m, err := webhooktest.SQSMessage(webhooktest.Event{ID: id, Body: body("S")})
		if err != nil {
			t.Fatal(err)
		}
		batch.Records = append(batch.Records, m)
	}
	sqsInvoke := func() events.SQSEventResponse {
		t.Helper()
		out, err := r.Invoke(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		var resp events.SQSEventResponse
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		return resp
	}
	if resp := sqsInvoke(); len(resp.BatchItemFailures) != 2 {
		t.Fatalf("first receive: failures %+v, want both records (audit fails once each)", resp.BatchItemFailures)
	}
	if resp := sqsInvoke(); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("second receive: failures %+v, want none\n%s", resp.BatchItemFailures, r.Stdout)
	}
	runs := readRuns(t, log)
	if n := api.Downloads(geminitest.AutoOutput("batches/S")); n != 1 {
		t.Errorf("batches/S: %d downloads, want 1 landing for two deliveries", n)
	}
	for _, id := range []string{"msg_S1-retry", "msg_S2-retry"} {
		if runs.count["audit "+id] != 1 || runs.count["save "+id] != 2 {
			t.Errorf("%s: runs %v, want audit once and save on each of the two receives", id, runs.count)
		}
	}
}
