package lambda

import (
	"log/slog"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Metrics the delivery and task lines carry as CloudWatch Embedded Metric
// Format (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
// the line itself is the EMF document, so the metrics cost no client, no
// round trip and no extra line. Each is in MetricsNamespace with the
// dimensions function (the Lambda function's name) and outcome.
const (
	MetricsNamespace = "GeminiWebhooks"

	// MetricDeliveries counts "delivery" lines (one per delivery the
	// receiver answered), by outcome.
	MetricDeliveries = "Deliveries"
	// metricTasks counts "task" lines (one per queued event the worker
	// ran), by outcome.
	metricTasks = "Tasks"
	// metricLatency is the line's latency_ms, in milliseconds.
	metricLatency = "latency_ms"
	// metricLandedBytes is the line's bytes: what landed in RESULTS_SINK.
	metricLandedBytes = "bytes"
	// metricLandingFailures is 1 on a line with a landing_error.
	metricLandingFailures = "LandingFailures"
	// metricDeadLetters is 1 on a line whose outcome is dead_letter.
	metricDeadLetters = "DeadLetters"
)

// emfMetric is one entry of CloudWatchMetrics[].Metrics.
type emfMetric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type emfDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []emfMetric `json:"Metrics"`
}

type emfMetadata struct {
	Timestamp         int64          `json:"Timestamp"`
	CloudWatchMetrics []emfDirective `json:"CloudWatchMetrics"`
}

// addMetrics turns a delivery or task line into an EMF document: the
// "_aws" metadata, the dimension "function" and the counters; outcome,
// latency_ms and bytes are already members of the line. Other lines are
// left alone.
func addMetrics(r *slog.Record) {
	count := map[string]string{"delivery": MetricDeliveries, "task": metricTasks}[r.Message]
	if count == "" {
		return
	}
	var outcome string
	var hasLatency, hasBytes, landingFailed bool
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "outcome":
			outcome = a.Value.String()
		case metricLatency:
			hasLatency = isNumber(a.Value)
		case metricLandedBytes:
			hasBytes = isNumber(a.Value)
		case "landing_error":
			landingFailed = true
		}
		return true
	})
	if outcome == "" {
		return
	}
	metrics := []emfMetric{{count, "Count"}}
	attrs := []slog.Attr{slog.String("function", functionName()), slog.Int(count, 1)}
	if hasLatency {
		metrics = append(metrics, emfMetric{metricLatency, "Milliseconds"})
	}
	if hasBytes {
		metrics = append(metrics, emfMetric{metricLandedBytes, "Bytes"})
	}
	if landingFailed {
		metrics = append(metrics, emfMetric{metricLandingFailures, "Count"})
		attrs = append(attrs, slog.Int(metricLandingFailures, 1))
	}
	if outcome == "dead_letter" {
		metrics = append(metrics, emfMetric{metricDeadLetters, "Count"})
		attrs = append(attrs, slog.Int(metricDeadLetters, 1))
	}
	attrs = append(attrs, slog.Any("_aws", emfMetadata{
		Timestamp: r.Time.UnixMilli(),
		CloudWatchMetrics: []emfDirective{{
			Namespace:  MetricsNamespace,
			Dimensions: [][]string{{"function", "outcome"}},
			Metrics:    metrics,
		}},
	}))
	r.AddAttrs(attrs...)
}

func isNumber(v slog.Value) bool {
	switch v.Kind() {
	case slog.KindInt64, slog.KindUint64, slog.KindFloat64:
		return true
	}
	return false
}

// functionName is the Lambda function's name (aws-lambda-go reads it from
// the runtime's environment); "local" outside Lambda.
func functionName() string {
	if lambdacontext.FunctionName != "" {
		return lambdacontext.FunctionName
	}
	return "local"
}
