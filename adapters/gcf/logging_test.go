package gcf

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/scripts/simulator/gemini"
)

// TestDeliveryLineCarriesTrace: a request with traceparent (or Google's
// X-Cloud-Trace-Context) logs its delivery line with the matching
// logging.googleapis.com/trace in GOOGLE_CLOUD_PROJECT, so Cloud Logging
// nests it under the request.
func TestDeliveryLineCarriesTrace(t *testing.T) {
	const id = "4bf92f3577b34da6a3ce929d0e0e4736"
	cases := []struct {
		name      string
		project   string
		headers   map[string]string
		wantTrace string // "": no trace field
		wantSpan  string
		sampled   bool
	}{
		{"traceparent", "proj-1", map[string]string{"traceparent": "00-" + id + "-00f067aa0ba902b7-01"}, "projects/proj-1/traces/" + id, "00f067aa0ba902b7", true},
		{"traceparent not sampled", "proj-1", map[string]string{"traceparent": "00-" + strings.ToUpper(id) + "-00f067aa0ba902b7-00"}, "projects/proj-1/traces/" + id, "00f067aa0ba902b7", false},
		{"X-Cloud-Trace-Context", "proj-1", map[string]string{"X-Cloud-Trace-Context": id + "/1;o=1"}, "projects/proj-1/traces/" + id, "0000000000000001", true},
		{"traceparent wins", "proj-1", map[string]string{"traceparent": "00-" + id + "-00f067aa0ba902b7-01", "X-Cloud-Trace-Context": "0123456789abcdef0123456789abcdef/2;o=1"}, "projects/proj-1/traces/" + id, "00f067aa0ba902b7", true},
		{"malformed traceparent", "proj-1", map[string]string{"traceparent": "00-" + id + "-zz-01"}, "", "", false},
		{"all-zero trace id", "proj-1", map[string]string{"traceparent": "00-00000000000000000000000000000000-00f067aa0ba902b7-01"}, "", "", false},
		{"no header", "proj-1", nil, "", "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			secret := gemini.NewSecret()
			var logs syncBuffer
			f := newWebhook(envOf(map[string]string{"WEBHOOK_SIGNING_SECRET": secret, "IDEMPOTENCY_STORE": "memory", "GOOGLE_CLOUD_PROJECT": c.project}), newLogger(&logs), nil)
			t.Cleanup(func() { f.Close() })
			r := delivery{id: "msg_trace", ts: time.Now().Unix(), body: event}.request(secret)
			for k, v := range c.headers {
				r.Header.Set(k, v)
			}
			if status, a := serve(t, f, r); status != 200 {
				t.Fatalf("delivery: %d %q", status, a.Outcome)
			}
			line := deliveryLine(t, logs.String())
			got, has := line[traceKey]
			if c.wantTrace == "" {
				if has {
					t.Fatalf("trace %v logged, want none: %v", got, line)
				}
				return
			}
			if got != c.wantTrace || line[spanKey] != c.wantSpan || line[traceSampledKey] != c.sampled {
				t.Errorf("trace %v span %v sampled %v, want %s %s %v", got, line[spanKey], line[traceSampledKey], c.wantTrace, c.wantSpan, c.sampled)
			}
		})
	}
}

// TestErrorLinesCarrySourceLocation: ERROR lines name where they were
// logged (Cloud Logging's sourceLocation); INFO lines do not.
func TestErrorLinesCarrySourceLocation(t *testing.T) {
	cases := []struct {
		name  string
		wants bool
	}{
		{"error", true},
		{"info", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var logs syncBuffer
			l := newLogger(&logs)
			if c.wants {
				l.Error("boom", "k", "v")
			} else {
				l.Info("fine")
			}
			var line map[string]any
			if err := json.Unmarshal([]byte(strings.TrimSpace(logs.String())), &line); err != nil {
				t.Fatal(err)
			}
			loc, ok := line[sourceLocationKey].(map[string]any)
			if ok != c.wants {
				t.Fatalf("sourceLocation %v, want it: %v", line[sourceLocationKey], c.wants)
			}
			if ok && (!strings.HasSuffix(loc["file"].(string), "logging_test.go") || loc["line"] == "" || !strings.Contains(loc["function"].(string), "TestErrorLinesCarrySourceLocation")) {
				t.Errorf("sourceLocation %v does not name this test", loc)
			}
		})
	}
}

func deliveryLine(t *testing.T, logs string) map[string]any {
	t.Helper()
	for _, l := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["message"] == "delivery" {
			return m
		}
	}
	t.Fatalf("no delivery line in:\n%s", logs)
	return nil
}
