package lambda

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/verify"
)

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

var testNow = time.Unix(1_700_000_000, 0)

// receiver is a real core.Receiver over a memory store that counts what it processed.
type receiver struct {
	h         *core.Receiver
	processed atomic.Int64
	logs      *bytes.Buffer
}

func newReceiver(t testing.TB, maxBody int64) *receiver {
	t.Helper()
	v, err := verify.New(context.Background(), verify.Config{Secrets: []string{testSecret}, Tolerance: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{logs: new(bytes.Buffer)}
	store := core.NewMemoryStore(0)
	h, err := core.NewReceiver(core.ReceiverOptions{
		Verifier:     v.Schemes(),
		Store:        store,
		Processor:    core.HandlerFunc(func(context.Context, *core.Event) error { r.processed.Add(1); return nil }),
		Logger:       slog.New(slog.NewJSONHandler(r.logs, nil)),
		MaxBodyBytes: maxBody,
		Clock:        func() time.Time { return testNow },
	})
	if err != nil {
		t.Fatal(err)
	}
	r.h = h
	return r
}

// signed returns Function URL style headers (lower case, as Lambda delivers them).
func signed(t testing.TB, id string, ts time.Time, body []byte) map[string]string {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := wh.Sign(id, ts, body)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"content-type":      "application/json",
		"webhook-id":        id,
		"webhook-timestamp": strconv.FormatInt(ts.Unix(), 10),
		"webhook-signature": sig,
	}
}

func envelope(id string) []byte {
	return []byte(`{"type":"batch.succeeded","version":"v1","timestamp":"2024-01-01T00:00:00Z","data":{"id":"batches/` + id + `","output_file_uri":"files/out"}}`)
}

func functionURLEvent(method string, headers map[string]string, body string, b64 bool) events.LambdaFunctionURLRequest {
	ev := events.LambdaFunctionURLRequest{Version: "2.0", RawPath: "/", Headers: headers, Body: body, IsBase64Encoded: b64}
	ev.RequestContext.DomainName = "abc123.lambda-url.eu-west-1.on.aws"
	ev.RequestContext.HTTP.Method = method
	return ev
}

func TestFunctionURLContract(t *testing.T) {
	body := envelope("plain")
	big := bytes.Repeat([]byte("x"), 2048)
	tampered := append([]byte(nil), body...)
	tampered[len(tampered)-3] = 'X'
	mixedCase := signed(t, "msg_mixed", testNow, body)
	mixedCase["Webhook-Signature"] = mixedCase["webhook-signature"]
	delete(mixedCase, "webhook-signature")

	tests := []struct {
		name       string
		ev         events.LambdaFunctionURLRequest
		status     int
		outcome    core.Outcome
		processed  int64
		wantHeader map[string]string
	}{
		{"signed plain JSON", functionURLEvent("POST", signed(t, "msg_plain", testNow, body), string(body), false), 200, core.OutcomeProcessed, 1, nil},
		{"signed base64 body", functionURLEvent("POST", signed(t, "msg_b64", testNow, body), base64.StdEncoding.EncodeToString(body), true), 200, core.OutcomeProcessed, 1, nil},
		{"header names in any case", functionURLEvent("POST", mixedCase, string(body), false), 200, core.OutcomeProcessed, 1, nil},
		{"base64 body verified as sent, not decoded", functionURLEvent("POST", signed(t, "msg_b64raw", testNow, body), base64.StdEncoding.EncodeToString(body), false), 401, core.OutcomeRejected, 0, nil},
		{"malformed base64", functionURLEvent("POST", signed(t, "msg_badb64", testNow, body), "!!!!not base64", true), 400, core.OutcomeRejected, 0, nil},
		{"tampered body", functionURLEvent("POST", signed(t, "msg_tamper", testNow, body), string(tampered), false), 401, core.OutcomeRejected, 0, nil},
		{"stale timestamp", functionURLEvent("POST", signed(t, "msg_stale", testNow.Add(-10*time.Minute), body), string(body), false), 401, core.OutcomeRejected, 0, nil},
		{"missing headers", functionURLEvent("POST", map[string]string{"content-type": "application/json"}, string(body), false), 400, core.OutcomeRejected, 0, nil},
		{"GET", functionURLEvent("GET", nil, "", false), 405, core.OutcomeRejected, 0, map[string]string{"Allow": "POST"}},
		{"plain body over the cap", functionURLEvent("POST", signed(t, "msg_big", testNow, big), string(big), false), 413, core.OutcomeRejected, 0, nil},
		{"base64 body over the cap", functionURLEvent("POST", signed(t, "msg_big64", testNow, big), base64.StdEncoding.EncodeToString(big), true), 413, core.OutcomeRejected, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newReceiver(t, 1024)
			inv := &invoker{HTTP: r.h}
			payload, err := json.Marshal(tc.ev)
			if err != nil {
				t.Fatal(err)
			}
			out, err := inv.Invoke(context.Background(), payload)
			if err != nil {
				t.Fatalf("Invoke: %v", err)
			}
			var resp events.LambdaFunctionURLResponse
			if err := json.Unmarshal(out, &resp); err != nil {
				t.Fatalf("response %s: %v", out, err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d; body %s; log %s", resp.StatusCode, tc.status, resp.Body, r.logs)
			}
			var body struct {
				Outcome core.Outcome `json:"outcome"`
			}
			if err := json.Unmarshal([]byte(resp.Body), &body); err != nil || body.Outcome != tc.outcome {
				t.Fatalf("body %q: outcome %q, want %q (%v)", resp.Body, body.Outcome, tc.outcome, err)
			}
			if resp.Headers["Content-Type"] != "application/json" {
				t.Errorf("Content-Type %q", resp.Headers["Content-Type"])
			}
			for k, v := range tc.wantHeader {
				if resp.Headers[k] != v {
					t.Errorf("header %s = %q, want %q", k, resp.Headers[k], v)
				}
			}
			if got := r.processed.Load(); got != tc.processed {
				t.Errorf("processed %d times, want %d", got, tc.processed)
			}
			if n := strings.Count(r.logs.String(), `"msg":"delivery"`); n != 1 {
				t.Errorf("%d delivery log lines, want 1: %s", n, r.logs)
			}
		})
	}
}

func TestRedeliveryIsProcessedOnce(t *testing.T) {
	r := newReceiver(t, 0)
	inv := &invoker{HTTP: r.h}
	body := envelope("redeliver")
	var statuses []int
	for i, ts := range []time.Time{testNow.Add(-time.Minute), testNow} { // a retry carries a new timestamp
		// The retry also arrives base64-encoded: the key is the id, not the transport.
		sent, b64 := string(body), i == 1
		if b64 {
			sent = base64.StdEncoding.EncodeToString(body)
		}
		ev := functionURLEvent("POST", signed(t, "msg_again", ts, body), sent, b64)
		payload, _ := json.Marshal(ev)
		out, err := inv.Invoke(context.Background(), payload)
		if err != nil {
			t.Fatal(err)
		}
		var resp events.LambdaFunctionURLResponse
		_ = json.Unmarshal(out, &resp)
		statuses = append(statuses, resp.StatusCode)
	}
	if statuses[0] != 200 || statuses[1] != 200 {
		t.Fatalf("statuses %v, want [200 200]; log %s", statuses, r.logs)
	}
	if got := r.processed.Load(); got != 1 {
		t.Fatalf("processed %d times, want 1", got)
	}
	if !strings.Contains(r.logs.String(), `"outcome":"duplicate"`) {
		t.Fatalf("no duplicate outcome logged: %s", r.logs)
	}
}

func TestHTTPAPIRequest(t *testing.T) {
	r := newReceiver(t, 0)
	inv := &invoker{HTTP: r.h}
	body := envelope("httpapi")
	ev := events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: "POST /webhook", RawPath: "/webhook",
		Headers: signed(t, "msg_httpapi", testNow, body), Body: base64.StdEncoding.EncodeToString(body), IsBase64Encoded: true}
	ev.RequestContext.HTTP.Method = "POST"
	ev.RequestContext.RouteKey = ev.RouteKey
	payload, _ := json.Marshal(ev)
	if k, err := DetectKind(payload); k != KindHTTPAPI || err != nil {
		t.Fatalf("DetectKind = %v, %v; want http_api", k, err)
	}
	out, err := inv.Invoke(context.Background(), payload)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(out, &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw["multiValueHeaders"]; !ok {
		t.Errorf("answer is not an HTTP API response: %s", out)
	}
	var resp events.APIGatewayV2HTTPResponse
	_ = json.Unmarshal(out, &resp)
	if resp.StatusCode != 200 || r.processed.Load() != 1 {
		t.Fatalf("status %d, processed %d; want 200, 1", resp.StatusCode, r.processed.Load())
	}
}

type sqsRecorder struct{ got events.SQSEvent }

func (s *sqsRecorder) HandleSQS(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	s.got = ev
	return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: ev.Records[0].MessageId}}}, nil
}

func TestDispatchOnShape(t *testing.T) {
	sqsBatch := `{"Records":[{"messageId":"m1","eventSource":"aws:sqs","body":"{}"},{"messageId":"m2","eventSource":"aws:sqs","body":"{}"}]}`
	tests := []struct {
		name    string
		payload string
		kind    Kind
		wantErr error // from DetectKind
	}{
		{"function URL", `{"version":"2.0","rawPath":"/","requestContext":{"http":{"method":"POST"}},"body":""}`, KindFunctionURL, nil},
		{"HTTP API", `{"version":"2.0","routeKey":"$default","requestContext":{"http":{"method":"POST"}}}`, KindHTTPAPI, nil},
		{"SQS batch", sqsBatch, KindSQS, nil},
		{"SNS records", `{"Records":[{"EventSource":"aws:sns","eventSource":"aws:sns"}]}`, KindUnknown, errUnsupportedEvent},
		{"mixed records", `{"Records":[{"eventSource":"aws:sqs"},{"eventSource":"aws:kinesis"}]}`, KindUnknown, errUnsupportedEvent},
		{"REST API payload 1.0", `{"resource":"/","httpMethod":"POST","body":"{}"}`, KindUnknown, errUnsupportedEvent},
		{"EventBridge Scheduler schedule", `{"source":"aws.scheduler","detail-type":"Scheduled Event","time":"2026-12-01T12:00:00Z","detail":{}}`, KindSchedule, nil},
		{"EventBridge scheduled rule", `{"version":"0","id":"x","detail-type":"Scheduled Event","source":"aws.events","time":"2026-12-01T12:00:00Z","resources":["arn:aws:events:r:1:rule/x"],"detail":{}}`, KindSchedule, nil},
		{"other EventBridge event", `{"source":"aws.s3","detail-type":"Object Created"}`, KindUnknown, errUnsupportedEvent},
		{"scheduled event from another source", `{"source":"my.app","detail-type":"Scheduled Event"}`, KindUnknown, errUnsupportedEvent},
		{"empty records", `{"Records":[]}`, KindUnknown, errUnsupportedEvent},
		{"not JSON", `not json`, KindUnknown, errUnsupportedEvent},
		{"JSON array", `[1,2]`, KindUnknown, errUnsupportedEvent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := DetectKind([]byte(tc.payload))
			if k != tc.kind || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("DetectKind = %v, %v; want %v, %v", k, err, tc.kind, tc.wantErr)
			}
		})
	}

	t.Run("SQS without a worker fails the invocation", func(t *testing.T) {
		inv := &invoker{HTTP: newReceiver(t, 0).h, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}
		_, err := inv.Invoke(context.Background(), []byte(sqsBatch))
		if !errors.Is(err, errSQSNotConfigured) {
			t.Fatalf("err = %v, want ErrSQSNotConfigured", err)
		}
	})
	t.Run("SQS goes to the worker", func(t *testing.T) {
		rec := &sqsRecorder{}
		inv := &invoker{HTTP: newReceiver(t, 0).h, SQS: rec}
		out, err := inv.Invoke(context.Background(), []byte(sqsBatch))
		if err != nil {
			t.Fatal(err)
		}
		if len(rec.got.Records) != 2 || rec.got.Records[1].MessageId != "m2" {
			t.Fatalf("worker got %+v", rec.got)
		}
		if !strings.Contains(string(out), `"itemIdentifier":"m1"`) {
			t.Fatalf("batch response %s", out)
		}
	})
	schedule := `{"source":"aws.scheduler","detail-type":"Scheduled Event","detail":{}}`
	t.Run("a schedule without a reconcile fails the invocation", func(t *testing.T) {
		inv := &invoker{HTTP: newReceiver(t, 0).h, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}
		if _, err := inv.Invoke(context.Background(), []byte(schedule)); !errors.Is(err, errReconcileNotConfigured) {
			t.Fatalf("err = %v, want ErrReconcileNotConfigured", err)
		}
	})
	t.Run("a schedule runs the reconcile", func(t *testing.T) {
		runs := 0
		inv := &invoker{HTTP: newReceiver(t, 0).h, Reconcile: func(context.Context) (any, error) {
			runs++
			return map[string]int{"applied": 3}, nil
		}}
		out, err := inv.Invoke(context.Background(), []byte(schedule))
		if err != nil || runs != 1 || string(out) != `{"applied":3}` {
			t.Fatalf("out %s, err %v, runs %d; want one run answering its summary", out, err, runs)
		}
	})
	t.Run("unsupported event fails the invocation", func(t *testing.T) {
		inv := &invoker{HTTP: newReceiver(t, 0).h, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}
		if _, err := inv.Invoke(context.Background(), []byte(`{"httpMethod":"POST"}`)); !errors.Is(err, errUnsupportedEvent) {
			t.Fatalf("err = %v, want ErrUnsupportedEvent", err)
		}
	})
}

func TestNewRequest(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		b64      bool
		wantBody string
		wantLen  int64
	}{
		{"plain", `{"a":1}`, false, `{"a":1}`, 7},
		{"empty", "", false, "", 0},
		{"base64 no padding", base64.StdEncoding.EncodeToString([]byte("abc")), true, "abc", 3},
		{"base64 one pad", base64.StdEncoding.EncodeToString([]byte("abcde")), true, "abcde", 5},
		{"base64 two pads", base64.StdEncoding.EncodeToString([]byte("abcd")), true, "abcd", 4},
		{"base64 unpadded length", "YWJj" + "ZA", true, "", -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := newRequest("POST", map[string]string{"webhook-id": "x", "content-type": "a/b"}, tc.body, tc.b64)
			if req.ContentLength != tc.wantLen {
				t.Errorf("ContentLength %d, want %d", req.ContentLength, tc.wantLen)
			}
			if got := req.Header.Get("Webhook-Id"); got != "x" {
				t.Errorf("Header.Get(Webhook-Id) = %q", got)
			}
			if _, ok := req.Header["Content-Type"]; !ok {
				t.Errorf("header keys not canonical: %v", req.Header)
			}
			got, err := io.ReadAll(req.Body)
			if tc.wantLen < 0 {
				if err == nil {
					t.Errorf("malformed base64 read without error")
				}
				return
			}
			if err != nil || string(got) != tc.wantBody {
				t.Errorf("body %q, %v; want %q", got, err, tc.wantBody)
			}
		})
	}
}

func TestResponseShapes(t *testing.T) {
	r := core.Response{Status: http.StatusMethodNotAllowed, Body: []byte(`{"outcome":"rejected"}`)}
	fu := toFunctionURL(r)
	api := toHTTPAPI(r)
	for name, got := range map[string][3]string{
		"function URL": {strconv.Itoa(fu.StatusCode), fu.Headers["Allow"], fu.Body},
		"HTTP API":     {strconv.Itoa(api.StatusCode), api.Headers["Allow"], api.Body},
	} {
		if got != [3]string{"405", "POST", `{"outcome":"rejected"}`} {
			t.Errorf("%s: %v", name, got)
		}
	}
	if _, ok := toFunctionURL(core.Response{Status: 200}).Headers["Allow"]; ok {
		t.Error("Allow set on a 200")
	}
}

func TestTypedConversions(t *testing.T) {
	body := []byte(`{"x":1}`)
	fu := functionURLEvent("PUT", map[string]string{"webhook-id": "a"}, base64.StdEncoding.EncodeToString(body), true)
	api := events.APIGatewayV2HTTPRequest{RouteKey: "$default", Headers: map[string]string{"webhook-id": "a"}, Body: string(body)}
	api.RequestContext.HTTP.Method = "PUT"
	for name, req := range map[string]core.Request{"function URL": fromFunctionURL(fu), "HTTP API": fromHTTPAPI(api)} {
		got, err := io.ReadAll(req.Body)
		if err != nil || string(got) != string(body) || req.Method != "PUT" || req.Header.Get("Webhook-Id") != "a" || req.ContentLength != int64(len(body)) {
			t.Errorf("%s: method %q id %q len %d body %q err %v", name, req.Method, req.Header.Get("Webhook-Id"), req.ContentLength, got, err)
		}
	}
}
