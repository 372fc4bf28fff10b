package lambdarie

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
	"github.com/geminiwebhooks/receiver/scripts/testenv/awstest"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Two secrets, as during a rotation: deliveries signed with either verify.
const (
	secretNew = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	secretOld = "whsec_QkVkcmFuZC1uZXctc2VjcmV0LWZvci10ZXN0cw=="
)

// rie is the bootstrap running under the Runtime Interface Emulator.
type rie struct{ *testenv.RIE }

// startRIE runs the bootstrap under the emulator with exactly env.
func startRIE(t testing.TB, env map[string]string) rie {
	t.Helper()
	r, err := testenv.StartRIE(context.Background(), bootstrapPath, env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return rie{r}
}

// invoke posts one event and returns the function's answer.
func (r rie) invoke(t testing.TB, event any) []byte {
	t.Helper()
	out, err := r.Invoke(context.Background(), event)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// delivery is one Gemini-like POST through the Function URL.
type delivery struct {
	name       string
	id         string
	secret     string
	at         time.Time
	b64        bool
	tamper     bool
	method     string
	wantStatus int
	wantResult string // outcome in the answer body
}

func (d delivery) event(t testing.TB, body []byte) events.LambdaFunctionURLRequest {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(d.secret)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := wh.Sign(d.id, d.at, body)
	if err != nil {
		t.Fatal(err)
	}
	if d.tamper {
		body = bytes.Replace(body, []byte("batches/"), []byte("batches/x"), 1)
	}
	sent := string(body)
	if d.b64 {
		sent = base64.StdEncoding.EncodeToString(body)
	}
	method := d.method
	if method == "" {
		method = http.MethodPost
	}
	ev := events.LambdaFunctionURLRequest{
		Version: "2.0", RawPath: "/", RawQueryString: "",
		Headers: map[string]string{ // lower case, as Function URLs deliver them
			"content-type":      "application/json",
			"user-agent":        "Gemini-Webhooks/1.0",
			"webhook-id":        d.id,
			"webhook-timestamp": strconv.FormatInt(d.at.Unix(), 10),
			"webhook-signature": sig,
		},
		Body: sent, IsBase64Encoded: d.b64,
	}
	ev.RequestContext.AccountID = "anonymous"
	ev.RequestContext.APIID = "abcdefghij"
	ev.RequestContext.DomainName = "abcdefghij.lambda-url.us-east-1.on.aws"
	ev.RequestContext.DomainPrefix = "abcdefghij"
	ev.RequestContext.RequestID = d.id + "-" + d.name
	ev.RequestContext.HTTP.Method = method
	ev.RequestContext.HTTP.Path = "/"
	ev.RequestContext.HTTP.Protocol = "HTTP/1.1"
	ev.RequestContext.HTTP.SourceIP = "203.0.113.7"
	return ev
}

// batchBody is the envelope Gemini would send for id; a redelivery carries
// the same bytes (only the attempt's webhook-timestamp changes).
func batchBody(id string, at time.Time) []byte {
	return []byte(`{"type":"batch.succeeded","version":"v1","timestamp":"` + at.UTC().Format(time.RFC3339) +
		`","data":{"id":"batches/` + id + `","output_file_uri":"files/` + id + `-output"}}`)
}

// TestBootstrapUnderRIE runs the real bootstrap under the AWS Lambda Runtime
// Interface Emulator and drives it with Function URL events.
func TestBootstrapUnderRIE(t *testing.T) {
	secretARN := awstest.PutSecret(t, motoURL, "rie-signing-secret", secretNew+","+secretOld)
	runs := []struct {
		name string
		env  map[string]string
	}{
		{"firestore store, secret from Secrets Manager", map[string]string{
			"IDEMPOTENCY_STORE":          "firestore",
			"FIRESTORE_EMULATOR_HOST":    firestoreHost,
			"GOOGLE_CLOUD_PROJECT":       fmt.Sprintf("lambda-rie-%d", os.Getpid()),
			"WEBHOOK_SIGNING_SECRET_ARN": secretARN,
			"AWS_ENDPOINT_URL":           motoURL,
		}},
		{"memory store, secret in the environment", map[string]string{
			"IDEMPOTENCY_STORE":      "memory",
			"WEBHOOK_SIGNING_SECRET": secretNew + "," + secretOld,
		}},
	}
	for i, run := range runs {
		t.Run(run.name, func(t *testing.T) {
			r := startRIE(t, run.env)
			now := time.Now()
			id := func(s string) string { return fmt.Sprintf("msg_run%d_%s", i, s) }
			cases := []delivery{
				{name: "signed plain JSON", id: id("plain"), secret: secretNew, at: now, wantStatus: 200, wantResult: "processed"},
				{name: "signed base64 body (previous secret)", id: id("b64"), secret: secretOld, at: now, b64: true, wantStatus: 200, wantResult: "processed"},
				{name: "redelivery, new attempt timestamp", id: id("plain"), secret: secretNew, at: now.Add(2 * time.Second), wantStatus: 200, wantResult: "duplicate"},
				{name: "redelivery of the base64 one as plain JSON", id: id("b64"), secret: secretNew, at: now.Add(3 * time.Second), wantStatus: 200, wantResult: "duplicate"},
				{name: "tampered body", id: id("tampered"), secret: secretNew, at: now, tamper: true, wantStatus: 401, wantResult: "rejected"},
				{name: "stale timestamp", id: id("stale"), secret: secretNew, at: now.Add(-10 * time.Minute), wantStatus: 401, wantResult: "rejected"},
				{name: "wrong secret", id: id("wrongkey"), secret: "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)), at: now, wantStatus: 401, wantResult: "rejected"},
				{name: "GET", id: id("get"), secret: secretNew, at: now, method: http.MethodGet, wantStatus: 405, wantResult: "rejected"},
			}
			for _, d := range cases {
				out := r.invoke(t, d.event(t, batchBody(strings.TrimPrefix(d.id, "msg_"), now)))
				var resp events.LambdaFunctionURLResponse
				if err := json.Unmarshal(out, &resp); err != nil || resp.StatusCode == 0 {
					t.Fatalf("%s: not a Function URL response: %s (%v)\nstdout:\n%s\nstderr:\n%s", d.name, out, err, r.Stdout, r.Svc.LogText())
				}
				var body struct {
					Outcome string `json:"outcome"`
				}
				_ = json.Unmarshal([]byte(resp.Body), &body)
				if resp.StatusCode != d.wantStatus || body.Outcome != d.wantResult {
					t.Errorf("%s: status %d outcome %q, want %d %q (body %s)", d.name, resp.StatusCode, body.Outcome, d.wantStatus, d.wantResult, resp.Body)
				}
				if resp.Headers["Content-Type"] != "application/json" {
					t.Errorf("%s: Content-Type %q", d.name, resp.Headers["Content-Type"])
				}
			}

			// The same function takes SQS batches (rie_sqs_test.go has the
			// worker's proof): a record that is no event is kept as a dead
			// letter and acknowledged, so nothing is reported failed.
			sqs := r.invoke(t, events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", EventSource: "aws:sqs",
				EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:tasks", Body: "{}"}}})
			if string(sqs) != `{"batchItemFailures":[]}` {
				t.Errorf("SQS batch answered %s, want no failures", sqs)
			}

			logs := waitForLines(t, r, len(cases))
			for _, want := range []struct {
				id, outcome string
				n           int
			}{
				{id("plain"), "processed", 1}, {id("plain"), "duplicate", 1},
				{id("b64"), "processed", 1}, {id("b64"), "duplicate", 1},
				{id("tampered"), "rejected", 1}, {id("tampered"), "processed", 0},
				{id("stale"), "rejected", 1}, {id("stale"), "processed", 0},
			} {
				if got := countOutcome(logs, want.id, want.outcome); got != want.n {
					t.Errorf("%s: %d %q log lines, want %d", want.id, got, want.outcome, want.n)
				}
			}
			all := r.Stdout.String() + r.Svc.LogText()
			for _, s := range []string{secretNew, secretOld, strings.TrimPrefix(secretNew, "whsec_"), strings.TrimPrefix(secretOld, "whsec_")} {
				if strings.Contains(all, s) {
					t.Errorf("a signing secret appears in the function's output")
				}
			}
			if t.Failed() {
				t.Logf("stdout:\n%s\nstderr:\n%s", r.Stdout, r.Svc.LogText())
			}
			reportDurations(t, r.Stdout.String(), r.Svc.LogText())
		})
	}
}

// logLine is the part of the core's delivery log line the test reads.
type logLine struct {
	Msg       string `json:"msg"`
	WebhookID string `json:"webhook_id"`
	Outcome   string `json:"outcome"`
}

// waitForLines returns the delivery log lines once n have arrived (the
// emulator may forward output slightly after the answer).
func waitForLines(t testing.TB, r rie, n int) []logLine {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var lines []logLine
		sc := bufio.NewScanner(strings.NewReader(r.Stdout.String()))
		for sc.Scan() {
			var l logLine
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "delivery" {
				lines = append(lines, l)
			}
		}
		if len(lines) >= n || time.Now().After(deadline) {
			if len(lines) < n {
				t.Errorf("%d delivery log lines, want at least %d", len(lines), n)
			}
			return lines
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func countOutcome(lines []logLine, id, outcome string) int {
	n := 0
	for _, l := range lines {
		if l.WebhookID == id && l.Outcome == outcome {
			n++
		}
	}
	return n
}

var (
	// The emulator runs init asynchronously: its REPORT line's "Init
	// Duration" is only the hand-off, and the first invoke's Duration waits
	// for init. rapid's own log has the init phase's length.
	initReportRE = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)
	durationRE   = regexp.MustCompile(`\tDuration: ([0-9.]+) ms`)
)

// reportDurations logs what the emulator measured (numbers for the report,
// not assertions: speed belongs in benchmarks).
func reportDurations(t testing.TB, stdout, stderr string) {
	t.Helper()
	var inits, durs []string
	for _, m := range initReportRE.FindAllStringSubmatch(stderr, -1) {
		inits = append(inits, m[1])
	}
	for _, m := range durationRE.FindAllStringSubmatch(stdout, -1) {
		durs = append(durs, m[1])
	}
	if len(durs) == 0 || len(inits) == 0 {
		t.Errorf("no init or invoke durations from the emulator")
		return
	}
	t.Logf("RIE: init phase %s ms; invoke durations in order (ms; the first includes waiting for init) %v", inits[0], durs)
}
