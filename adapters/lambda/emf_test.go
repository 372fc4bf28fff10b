package lambda

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// checkEMF validates doc against the EMF specification's required keys:
// _aws.Timestamp (epoch milliseconds), _aws.CloudWatchMetrics[] with a
// Namespace, Dimensions (arrays of names of top-level string members, at
// most 30 each) and Metrics[].Name naming top-level numeric members, with a
// valid Unit when one is given. It returns the metric values by name.
func checkEMF(t *testing.T, doc map[string]any) map[string]float64 {
	t.Helper()
	aws, ok := doc["_aws"].(map[string]any)
	if !ok {
		t.Fatalf("no _aws object: %v", doc)
	}
	if ts, ok := aws["Timestamp"].(float64); !ok || ts < 1e12 {
		t.Errorf("_aws.Timestamp %v: want epoch milliseconds", aws["Timestamp"])
	}
	directives, ok := aws["CloudWatchMetrics"].([]any)
	if !ok || len(directives) == 0 {
		t.Fatalf("_aws.CloudWatchMetrics %v: want a non-empty array", aws["CloudWatchMetrics"])
	}
	units := map[string]bool{"Seconds": true, "Microseconds": true, "Milliseconds": true, "Bytes": true, "Kilobytes": true,
		"Megabytes": true, "Gigabytes": true, "Terabytes": true, "Bits": true, "Percent": true, "Count": true, "None": true}
	values := map[string]float64{}
	for _, d := range directives {
		dir, ok := d.(map[string]any)
		if !ok {
			t.Fatalf("directive %v is not an object", d)
		}
		if ns, ok := dir["Namespace"].(string); !ok || ns == "" || len(ns) > 1024 {
			t.Errorf("Namespace %v", dir["Namespace"])
		}
		dims, ok := dir["Dimensions"].([]any)
		if !ok {
			t.Fatalf("Dimensions %v: want an array of dimension sets", dir["Dimensions"])
		}
		for _, set := range dims {
			names, ok := set.([]any)
			if !ok || len(names) > 30 {
				t.Fatalf("dimension set %v", set)
			}
			for _, n := range names {
				if v, ok := doc[n.(string)].(string); !ok || v == "" {
					t.Errorf("dimension %v: no top-level string member (%v)", n, doc[n.(string)])
				}
			}
		}
		ms, ok := dir["Metrics"].([]any)
		if !ok || len(ms) == 0 || len(ms) > 100 {
			t.Fatalf("Metrics %v", dir["Metrics"])
		}
		for _, m := range ms {
			md := m.(map[string]any)
			name, ok := md["Name"].(string)
			if !ok || name == "" {
				t.Fatalf("metric without a Name: %v", md)
			}
			if u, has := md["Unit"]; has && !units[u.(string)] {
				t.Errorf("metric %s: unit %v", name, u)
			}
			v, ok := doc[name].(float64)
			if !ok {
				t.Errorf("metric %s: no top-level numeric member (%v)", name, doc[name])
			}
			values[name] = v
		}
	}
	return values
}

// TestDeliveryLinesAreEMF: the delivery and task lines are EMF documents
// carrying per-outcome counts, latency, landed bytes, landing failures and
// dead letters; other lines carry no metrics.
func TestDeliveryLinesAreEMF(t *testing.T) {
	lambdacontext.FunctionName = "stack-receiver"
	t.Cleanup(func() { lambdacontext.FunctionName = "" })
	cases := []struct {
		name  string
		msg   string
		attrs []slog.Attr
		want  map[string]float64 // nil: no _aws
	}{
		{"processed and landed", "delivery", []slog.Attr{slog.String("outcome", "processed"), slog.Int("status", 200), slog.Int64("latency_ms", 42), slog.Int64("bytes", 1<<20)},
			map[string]float64{MetricDeliveries: 1, metricLatency: 42, metricLandedBytes: 1 << 20}},
		{"rejected", "delivery", []slog.Attr{slog.String("outcome", "rejected"), slog.Int("status", 401), slog.String("reason", "bad signature"), slog.Int64("latency_ms", 1)},
			map[string]float64{MetricDeliveries: 1, metricLatency: 1}},
		{"landing failed", "task", []slog.Attr{slog.String("outcome", "failed"), slog.String("landing_error", "403"), slog.Int64("latency_ms", 7)},
			map[string]float64{metricTasks: 1, metricLatency: 7, metricLandingFailures: 1}},
		{"dead letter", "task", []slog.Attr{slog.String("outcome", "dead_letter"), slog.Int64("latency_ms", 3)},
			map[string]float64{metricTasks: 1, metricLatency: 3, metricDeadLetters: 1}},
		{"not a delivery line", "init", []slog.Attr{slog.String("store", "firestore")}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			before := time.Now().UnixMilli()
			NewLogger(&b, slog.LevelInfo).LogAttrs(context.Background(), slog.LevelInfo, c.msg, c.attrs...)
			var doc map[string]any
			if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
				t.Fatalf("not one JSON line: %q", b.String())
			}
			if strings.Count(strings.TrimSpace(b.String()), "\n") != 0 {
				t.Fatalf("more than one line: %q", b.String())
			}
			if c.want == nil {
				if _, has := doc["_aws"]; has {
					t.Fatalf("metrics on a %q line: %v", c.msg, doc)
				}
				return
			}
			got := checkEMF(t, doc)
			for k, v := range c.want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
				}
			}
			if len(got) != len(c.want) {
				t.Errorf("metrics %v, want exactly %v", got, c.want)
			}
			if doc["function"] != "stack-receiver" || doc["msg"] != c.msg {
				t.Errorf("function %v msg %v", doc["function"], doc["msg"])
			}
			if ts := int64(doc["_aws"].(map[string]any)["Timestamp"].(float64)); ts < before {
				t.Errorf("Timestamp %d is before the line was logged (%d)", ts, before)
			}
		})
	}
}
