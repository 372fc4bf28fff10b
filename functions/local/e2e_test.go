package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/local"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/verify"
	"github.com/geminiwebhooks/receiver/scripts/simulator/gemini"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
)

// End to end: the built local server, started as a newcomer would start it,
// driven by the built simulator; then the server's own log lines are checked.

// accepted is the first row of the HTTP contract (package core): processed
// now, or queued durably.
func accepted(r gemini.Result) bool {
	return r.Err == nil && (r.Status == http.StatusOK && r.Outcome == "processed" || r.Status == http.StatusAccepted && r.Outcome == "queued")
}

// e2eServer is one run of the local server in a working directory of its own.
type e2eServer struct {
	svc    *testenv.Service
	url    string
	stdout string // its JSON log lines
}

// startE2EServer runs bin in dir with only the environment given (plus PATH
// and HOME), so nothing from the developer's shell leaks in.
func startE2EServer(t *testing.T, bin, dir string, env ...string) *e2eServer {
	t.Helper()
	stdout, err := os.CreateTemp(dir, "stdout-*.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	svc, err := testenv.StartProc(context.Background(), testenv.ProcSpec{
		Name: "local",
		Argv: func(string) []string { return []string{bin} },
		Env: func(host string) []string {
			_, port, _ := strings.Cut(host, ":")
			return append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "PORT=" + port}, env...)
		},
		Dir:     dir,
		Stdout:  stdout,
		Ready:   testenv.HTTPAnswers,
		Timeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Stop)
	return &e2eServer{svc: svc, url: "http://" + svc.Host, stdout: stdout.Name()}
}

// simReport is one line of the simulator's --json output.
type simReport struct {
	Kind      string `json:"kind"`
	EventType string `json:"event_type"`
	WebhookID string `json:"webhook_id"`
	Status    int    `json:"status"`
	Outcome   string `json:"outcome"`
	OK        bool   `json:"ok"`
}

// runSimulator runs the simulator binary in dir and requires exit 0.
func runSimulator(t *testing.T, bin, dir string, args ...string) []simReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(args, "--json", "--initial-backoff", "100ms")...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("simulator %v: %v\nstdout:\n%s\nstderr:\n%s", args, err, out, stderr.String())
	}
	var rs []simReport
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var r simReport
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("simulator printed %q: %v", line, err)
		}
		rs = append(rs, r)
	}
	return rs
}

// checkReports holds the simulator's answers to the HTTP contract, independently
// of the simulator's own verdict.
func checkReports(t *testing.T, rs []simReport) {
	t.Helper()
	want := map[string]struct {
		answers []string // "status outcome"
		count   int
	}{
		// Processed inline (200) or handed to a durable queue (202): §4 allows both.
		"event":     {[]string{"200 processed", "202 queued"}, len(gemini.Catalogue)},
		"duplicate": {[]string{"200 duplicate"}, 1},
		"stale":     {[]string{"401 rejected"}, 1},
		"tampered":  {[]string{"401 rejected"}, 1},
		"malformed": {[]string{"200 dead_letter"}, 1},
	}
	count := map[string]int{}
	seen := map[string]bool{}
	for _, r := range rs {
		w, ok := want[r.Kind]
		if !ok {
			t.Errorf("unexpected delivery kind %q", r.Kind)
			continue
		}
		count[r.Kind]++
		if got := fmt.Sprintf("%d %s", r.Status, r.Outcome); !slices.Contains(w.answers, got) || !r.OK {
			t.Errorf("%s %s %s: %s, want one of %q", r.Kind, r.EventType, r.WebhookID, got, w.answers)
		}
		if r.Kind == "duplicate" {
			if r.WebhookID != rs[0].WebhookID {
				t.Errorf("duplicate has id %s, want the first delivery's %s", r.WebhookID, rs[0].WebhookID)
			}
		} else if seen[r.WebhookID] {
			t.Errorf("id %s sent twice", r.WebhookID)
		}
		seen[r.WebhookID] = true
	}
	for kind, w := range want {
		if count[kind] != w.count {
			t.Errorf("%d %s deliveries, want %d", count[kind], kind, w.count)
		}
	}
}

// deliveryLog is the one log line per delivery (package core).
type deliveryLog struct {
	Msg       string   `json:"msg"`
	WebhookID *string  `json:"webhook_id"`
	EventType *string  `json:"event_type"`
	Scheme    *string  `json:"scheme"`
	Outcome   *string  `json:"outcome"`
	Status    *int     `json:"status"`
	Reason    *string  `json:"reason"`
	LatencyMS *float64 `json:"latency_ms"`
}

// readLog parses every stdout line as JSON and returns the delivery lines by
// webhook id, failing if any line holds one of the forbidden strings.
func readLog(t *testing.T, path string, forbidden ...string) map[string][]deliveryLog {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range forbidden {
		if bytes.Contains(b, []byte(f)) {
			t.Errorf("the log contains forbidden string %d (a secret or a token)", i+1)
		}
	}
	byID := map[string][]deliveryLog{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var l deliveryLog
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Errorf("log line is not JSON: %q", sc.Text())
			continue
		}
		if l.Msg != "delivery" {
			continue
		}
		if l.WebhookID == nil || l.EventType == nil || l.Scheme == nil || l.Outcome == nil || l.Status == nil || l.LatencyMS == nil {
			t.Errorf("delivery line lacks a field: %s", sc.Text())
			continue
		}
		if *l.LatencyMS < 0 {
			t.Errorf("negative latency_ms in %s", sc.Text())
		}
		byID[*l.WebhookID] = append(byID[*l.WebhookID], l)
	}
	return byID
}

// checkLog matches every simulator delivery to its log line.
func checkLog(t *testing.T, rs []simReport, byID map[string][]deliveryLog, scheme string) {
	t.Helper()
	i := map[string]int{} // next line per id: a duplicate is the id's second line
	for _, r := range rs {
		key := r.WebhookID
		if scheme == "dynamic" && r.Outcome != "rejected" {
			// A verified token's key is what it signs, prefixed by scheme (core/internal/signature/binding.go).
			key = "jwt:id:" + r.WebhookID
		}
		lines := byID[key]
		if i[key] >= len(lines) {
			t.Errorf("no log line for %s delivery %s", r.Kind, r.WebhookID)
			continue
		}
		l := lines[i[key]]
		i[key]++
		wantType := r.EventType
		if wantType == "batch.completed" {
			wantType = core.BatchSucceeded // the alias is folded before it is logged
		}
		if r.Kind != "event" && r.Kind != "duplicate" {
			wantType = "" // rejected before parsing, or not parseable
		}
		if *l.EventType != wantType || *l.Scheme != scheme || *l.Outcome != r.Outcome || *l.Status != r.Status {
			t.Errorf("%s %s logged type=%q scheme=%q outcome=%q status=%d; want %q %q %q %d",
				r.Kind, r.WebhookID, *l.EventType, *l.Scheme, *l.Outcome, *l.Status, wantType, scheme, r.Outcome, r.Status)
		}
		if r.Outcome == "rejected" && (l.Reason == nil || *l.Reason == "") {
			t.Errorf("%s %s rejected without a reason", r.Kind, r.WebhookID)
		}
	}
}

func TestE2E(t *testing.T) {
	bins := t.TempDir()
	var simBin string
	var simErr error
	built := make(chan struct{})
	go func() { // the two builds overlap
		defer close(built)
		simBin, simErr = testenv.GoBuild("./scripts/simulator", bins)
	}()
	serverBin, err := testenv.GoBuild("./functions/local", bins)
	<-built
	if err != nil {
		t.Fatal(err)
	}
	if simErr != nil {
		t.Fatal(simErr)
	}
	t.Run("static with the dev secret, restart keeps ids", func(t *testing.T) { testE2EStatic(t, serverBin, simBin) })
	t.Run("dynamic JWT, JWKS down at start", func(t *testing.T) { testE2EDynamic(t, serverBin, simBin) })
}

func testE2EStatic(t *testing.T, serverBin, simBin string) {
	dir := t.TempDir()

	// First start: no WEBHOOK_SIGNING_SECRET, so a dev secret is made and
	// the ready-to-run simulator command printed.
	srv := startE2EServer(t, serverBin, dir)
	secretBytes, err := os.ReadFile(filepath.Join(dir, ".gemini-webhooks", "dev-secret"))
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSpace(string(secretBytes))
	if _, err := verify.DecodeSecret(secret); err != nil {
		t.Fatalf("dev secret: %v", err)
	}
	command := local.SimulatorCommand + " --url " + srv.url + " --secret-file .gemini-webhooks/dev-secret"
	if !strings.Contains(srv.svc.LogText(), command) {
		t.Fatalf("server did not print %q:\n%s", command, srv.svc.LogText())
	}

	// That command's flags, with the simulator binary, from the same directory.
	rs := runSimulator(t, simBin, dir, "--url", srv.url, "--secret-file", ".gemini-webhooks/dev-secret", "--malformed")
	checkReports(t, rs)

	// One delivery the test keeps, to redeliver after a restart.
	sender := &gemini.Sender{Signer: gemini.StaticSigner{Secret: secret}, MaxAttempts: 1}
	kept := gemini.Delivery{ID: gemini.NewID(), Body: gemini.Payload("video.generated")}
	if r := sender.Send(context.Background(), srv.url, kept); !accepted(r) {
		t.Fatalf("kept delivery: %+v, want 200 processed or 202 queued", r)
	}

	srv.svc.Stop() // SIGTERM: a graceful shutdown closes the file store
	keyPart := strings.TrimPrefix(secret, "whsec_")
	byID := readLog(t, srv.stdout, secret, keyPart)
	checkLog(t, rs, byID, "static")

	// Second start on the same directory: same secret, same store.
	srv2 := startE2EServer(t, serverBin, dir)
	if strings.Contains(srv2.svc.LogText(), keyPart) {
		t.Fatal("a restart printed the stored dev secret again")
	}
	if !strings.Contains(srv2.svc.LogText(), "using the development secret stored in") {
		t.Fatalf("restart did not reuse the dev secret:\n%s", srv2.svc.LogText())
	}
	if r := sender.Send(context.Background(), srv2.url, kept); r.Status != http.StatusOK || r.Outcome != "duplicate" {
		t.Errorf("old id redelivered after restart: %d %s, want 200 duplicate", r.Status, r.Outcome)
	}
	other := gemini.Delivery{ID: kept.ID, Body: gemini.Payload("video.generated")}
	if r := sender.Send(context.Background(), srv2.url, other); r.Status != http.StatusConflict || r.Outcome != "conflict" {
		t.Errorf("old id with another body: %d %s, want 409 conflict", r.Status, r.Outcome)
	}
	if r := sender.Send(context.Background(), srv2.url, gemini.Delivery{ID: gemini.NewID(), Body: gemini.Payload("batch.expired")}); !accepted(r) {
		t.Errorf("new id after restart: %d %s, want 200 processed or 202 queued", r.Status, r.Outcome)
	}
	srv2.svc.Stop()
	byID = readLog(t, srv2.stdout, secret, keyPart)
	if ls := byID[kept.ID]; len(ls) != 2 || *ls[0].Outcome != "duplicate" || *ls[1].Outcome != "conflict" {
		t.Errorf("after restart, %s logged %d lines, want duplicate then conflict", kept.ID, len(ls))
	}
}

// The dynamic scheme: the server trusts the simulator's JWKS, which is not
// up yet when the server starts (its first fetch fails and it recovers).
func testE2EDynamic(t *testing.T, serverBin, simBin string) {
	dir := t.TempDir()
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	jwksURL := fmt.Sprintf("http://127.0.0.1:%d%s", port, gemini.JWKSPath)
	srv := startE2EServer(t, serverBin, dir,
		"WEBHOOK_AUDIENCE=https://hooks.example.test/gemini",
		"WEBHOOK_JWKS_URL="+jwksURL,
		"WEBHOOK_ISSUER=https://generativelanguage.googleapis.com",
		"IDEMPOTENCY_STORE=memory",
	)
	if _, err := os.Stat(filepath.Join(dir, ".gemini-webhooks", "dev-secret")); err == nil {
		t.Fatal("a dev secret was made although the dynamic scheme is configured")
	}

	rs := runSimulator(t, simBin, dir, "--url", srv.url, "--jwt", "--jwks-port", fmt.Sprint(port),
		"--audience", "https://hooks.example.test/gemini", "--issuer", "https://generativelanguage.googleapis.com", "--malformed")
	checkReports(t, rs)

	srv.svc.Stop()
	// "eyJ" begins every JWT (base64url of `{"`): no token reaches the log.
	checkLog(t, rs, readLog(t, srv.stdout, "eyJ"), "dynamic")
}
