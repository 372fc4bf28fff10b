package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/geminiwebhooks/receiver/adapters/aws"
	"github.com/geminiwebhooks/receiver/adapters/env"
	"github.com/geminiwebhooks/receiver/adapters/gemini/geminitest"
	"github.com/geminiwebhooks/receiver/adapters/lambda"
	"github.com/geminiwebhooks/receiver/adapters/wire"
	"github.com/geminiwebhooks/receiver/core/reconcile"
	"github.com/geminiwebhooks/receiver/scripts/simulator/gemini"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
)

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// realClock runs status with the real clock: the receiver counts and the
// reconcile records at time.Now.
func realClock(t *testing.T) {
	now = time.Now
}

// statusOut runs status with args and returns its stdout.
func statusOut(t *testing.T, getenv func(string) string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), append([]string{"status"}, args...), &stdout, &stderr, getenv); code != exitOK {
		t.Fatalf("status %v: exit %d\n%s%s", args, code, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func wantIn(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

// TestStatusDeliveriesLocalFile: the local server's receiver (wire.Build on
// the file store, as functions/local runs it) counts each delivery's
// outcome in memory and flushes on close; status sums the file's hours.
func TestStatusDeliveriesLocalFile(t *testing.T) {
	realClock(t)
	vars := map[string]string{"STATE_PATH": filepath.Join(t.TempDir(), "state.db"), "WEBHOOK_SIGNING_SECRET": testSecret,
		"RESULTS_SINK": t.TempDir()}
	getenv := func(k string) string { return vars[k] }
	seed(t, getenv)
	wantIn(t, statusOut(t, getenv), "deliveries 24h                none")

	cfg, err := env.Load(getenv, env.Local)
	if err != nil {
		t.Fatal(err)
	}
	app, err := wire.Build(context.Background(), cfg, nil, wire.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	send := func(id, body string, tamper bool) int {
		h, err := gemini.SignStatic(testSecret, id, time.Now(), []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if tamper {
			body += " "
		}
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.Header = h
		w := httptest.NewRecorder()
		app.Receiver.ServeHTTP(w, r)
		return w.Code
	}
	ev := `{"type":"interaction.completed","version":"v1","timestamp":"2026-12-01T11:00:00Z","data":{"id":"interactions/counted"}}`
	for _, d := range []struct {
		id, body string
		tamper   bool
		want     int
	}{
		{"msg_c1", ev, false, 200}, {"msg_c1", ev, false, 200}, {"msg_c2", ev, true, 401}, {"msg_c3", "not json", false, 200},
	} {
		if got := send(d.id, d.body, d.tamper); got != d.want {
			t.Fatalf("%s: %d, want %d", d.id, got, d.want)
		}
	}
	if err := app.Close(); err != nil { // flushes the counts
		t.Fatal(err)
	}
	out := statusOut(t, getenv)
	wantIn(t, out, "deliveries 24h                processed 1, duplicate 1, rejected 1, dead_letter 1")
	if deliveriesLine(out, "queued") {
		t.Errorf("a zero count is printed:\n%s", out)
	}
	wantIn(t, statusOut(t, getenv, "--json"), `"source": "file"`, `"processed": 1`, `"dead_letter": 1`, `"total": 4`)
	wantIn(t, statusOut(t, getenv, "--deliveries", "none"), "WHAT")
	if out := statusOut(t, getenv, "--deliveries", "none"); strings.Contains(out, "deliveries 24h") {
		t.Errorf("--deliveries none still counts:\n%s", out)
	}
}

// TestStatusLastReconcile, per backend (the file, the Firestore emulator,
// DynamoDB on moto_server):
// "never" before any run; after a real run (wire's App.Reconcile, what the
// local loop, GeminiReconcile and the Lambda schedule call) against the
// Gemini API stand-in, its age, what it listed and replayed; a dry run is
// not kept.
func TestStatusLastReconcile(t *testing.T) {
	realClock(t)
	backends := []struct {
		name string
		vars func(t *testing.T) map[string]string
	}{
		{"file", func(t *testing.T) map[string]string {
			return map[string]string{"STATE_PATH": filepath.Join(t.TempDir(), "state.db")}
		}},
		{"firestore", func(t *testing.T) map[string]string { return firestoreEmulator(t, "ops-rec") }},
		{"dynamodb", func(t *testing.T) map[string]string { return dynamoDBTable(t, "ops-rec") }},
	}
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			api := geminitest.New("test")
			defer api.Close()
			api.AddFile(geminitest.File{Name: "files/rec1", Size: 100, Seed: 1})
			api.AddBatch("batches/rec1", geminitest.Batch{State: "BATCH_STATE_SUCCEEDED", OutputFile: "files/rec1"})
			api.AddBatch("batches/rec2", geminitest.Batch{State: "BATCH_STATE_FAILED", ErrorCode: 3, ErrorMessage: "bad input"})
			api.AddBatch("batches/rec3", geminitest.Batch{State: "BATCH_STATE_RUNNING"})
			vars := be.vars(t)
			vars["RESULTS_SINK"] = t.TempDir()
			getenv := func(k string) string { return vars[k] }
			seed(t, getenv)
			wantIn(t, statusOut(t, getenv, "--deliveries", "none"), "last reconcile                never")
			wantIn(t, statusOut(t, getenv, "--json", "--deliveries", "none"), `"never": true`)

			withAPI := map[string]string{"GEMINI_API_KEY": "test", "GOOGLE_GEMINI_BASE_URL": api.URL}
			cfg, err := env.Load(func(k string) string { return cmp.Or(withAPI[k], vars[k]) }, env.Local)
			if err != nil {
				t.Fatal(err)
			}
			app, err := wire.Build(context.Background(), cfg, nil, wire.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Cloud: (&aws.Clients{}).Cloud()})
			if err != nil {
				t.Fatal(err)
			}
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			if _, err := app.Reconcile(context.Background(), wire.ReconcileOptions{DryRun: true, Logger: log}); err != nil {
				t.Fatal(err)
			}
			if r, err := app.Store.(reconcile.RunLog).LastRun(context.Background()); err != nil || r != nil {
				t.Fatalf("after a dry run: %+v, %v; want nothing kept", r, err)
			}
			s, err := app.Reconcile(context.Background(), wire.ReconcileOptions{Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			app.Close()
			// Listed: the 3 batches and seed's unfinished interaction, which
			// the stand-in does not know (failed).
			if s.Seen != 4 || s.Applied != 2 || s.Failed != 1 {
				t.Fatalf("the run: %+v, want 4 seen, 2 applied, 1 failed", s)
			}
			out := statusOut(t, getenv, "--deliveries", "none")
			if !regexp.MustCompile(`last reconcile +(\d+s ago|just now), 4 listed, 2 replayed, 1 landed, 1 failed\n`).MatchString(out) {
				t.Errorf("status lacks the run:\n%s", out)
			}
			wantIn(t, statusOut(t, getenv, "--json", "--deliveries", "none"), `"listed": 4`, `"replayed": 2`, `"landed": 1`, `"failed": 1`)
		})
	}
}

// deliveriesLine: status's deliveries line mentions word.
func deliveriesLine(out, word string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "deliveries 24h") && strings.Contains(l, word) {
			return true
		}
	}
	return false
}

// TestStatusDeliveriesCloudWatch against moto_server: the data points are
// put as CloudWatch Logs would extract them from the EMF documents the
// Lambda's own logger writes (the extraction itself has no emulator: this
// test does it, by the EMF specification), and status reads them back with
// ListMetrics and GetMetricData: the last 24 h only, delivery lines only.
func TestStatusDeliveriesCloudWatch(t *testing.T) {
	if testing.Short() {
		t.Skip("starts moto_server")
	}
	realClock(t)
	moto, err := testenv.StartMoto(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(moto.Stop)
	for k, v := range map[string]string{"AWS_ENDPOINT_URL": "http://" + moto.Host, "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
		"AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull, "AWS_EC2_METADATA_DISABLED": "true"} {
		t.Setenv(k, v)
	}
	// The Lambda's delivery and task lines, as its logger writes them.
	var lines bytes.Buffer
	log := lambda.NewLogger(&lines, slog.LevelInfo)
	for _, o := range []string{"processed", "processed", "queued", "duplicate", "failed", "dead_letter"} {
		log.Info("delivery", "webhook_id", "msg_"+o, "outcome", o, "status", 200, "latency_ms", 1.5)
	}
	log.Info("task", "outcome", "processed", "latency_ms", 3.0) // a task, not a delivery
	ctx := context.Background()
	cfg, err := (&aws.Clients{}).Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cw := newCloudWatch(cfg)
	putEMF(t, cw, lines.Bytes(), time.Time{})
	// A day and a half ago: outside the window.
	var old bytes.Buffer
	lambda.NewLogger(&old, slog.LevelInfo).Info("delivery", "outcome", "rejected", "status", 401, "latency_ms", 0.2)
	putEMF(t, cw, old.Bytes(), time.Now().Add(-36*time.Hour))

	vars := map[string]string{"STATE_PATH": filepath.Join(t.TempDir(), "state.db")}
	getenv := func(k string) string { return vars[k] }
	seed(t, getenv)
	out := statusOut(t, getenv, "--deliveries", "cloudwatch")
	wantIn(t, out, "deliveries 24h (CloudWatch)   processed 2, queued 1, duplicate 1, failed 1, dead_letter 1")
	if deliveriesLine(out, "rejected") {
		t.Errorf("the old point is counted:\n%s", out)
	}
	wantIn(t, statusOut(t, getenv, "--json", "--deliveries", "file,cloudwatch"), `"source": "cloudwatch"`, `"total": 6`, `(function local)`, `"source": "file"`)
}

// putEMF does what CloudWatch Logs does with each EMF document: for each
// metric its directive names, one data point with the document's
// dimension members, its value member and _aws.Timestamp (at, when set,
// instead: moto keeps what it is given, so an old point can be made).
func putEMF(t *testing.T, cw *cloudwatch.Client, docs []byte, at time.Time) {
	t.Helper()
	n := 0
	for _, line := range bytes.Split(bytes.TrimSpace(docs), []byte("\n")) {
		var doc map[string]any
		if err := json.Unmarshal(line, &doc); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		var meta struct {
			Timestamp         int64 `json:"Timestamp"`
			CloudWatchMetrics []struct {
				Namespace  string     `json:"Namespace"`
				Dimensions [][]string `json:"Dimensions"`
				Metrics    []struct{ Name, Unit string }
			} `json:"CloudWatchMetrics"`
		}
		raw, _ := json.Marshal(doc["_aws"])
		if err := json.Unmarshal(raw, &meta); err != nil || len(meta.CloudWatchMetrics) == 0 {
			t.Fatalf("not an EMF document: %s", line)
		}
		ts := time.UnixMilli(meta.Timestamp)
		if !at.IsZero() {
			ts = at
		}
		for _, d := range meta.CloudWatchMetrics {
			for _, set := range d.Dimensions {
				var dims []cwtypes.Dimension
				for _, name := range set {
					dims = append(dims, cwtypes.Dimension{Name: awssdk.String(name), Value: awssdk.String(fmt.Sprint(doc[name]))})
				}
				var data []cwtypes.MetricDatum
				for _, m := range d.Metrics {
					v, ok := doc[m.Name].(float64)
					if !ok {
						t.Fatalf("metric %s has no numeric member in %s", m.Name, line)
					}
					data = append(data, cwtypes.MetricDatum{MetricName: awssdk.String(m.Name), Dimensions: dims, Value: awssdk.Float64(v),
						Unit: cwtypes.StandardUnit(m.Unit), Timestamp: awssdk.Time(ts)})
				}
				if _, err := cw.PutMetricData(context.Background(), &cloudwatch.PutMetricDataInput{Namespace: awssdk.String(d.Namespace), MetricData: data}); err != nil {
					t.Fatal(err)
				}
				n++
			}
		}
	}
	if n == 0 {
		t.Fatal("no EMF directive")
	}
}

// TestStatusDeliveriesCloudMonitoring against an httptest STAND-IN for
// Cloud Monitoring's projects.timeSeries.list (there is no emulator and no
// network here): it checks the query status sends (the log-based metric's
// type, delivery lines only, one aligned sum per outcome over 24 h) and
// answers in the documented shape (int64Value as a JSON string, pages).
// A refusal is one "not available" line, not a failed status.
func TestStatusDeliveriesCloudMonitoring(t *testing.T) {
	realClock(t)
	var queries []string
	standIn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v3/projects/denied/timeSeries" {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"error":{"code":403,"message":"Permission monitoring.timeSeries.list denied","status":"PERMISSION_DENIED"}}`)
			return
		}
		if r.Method != http.MethodGet || r.URL.Path != "/v3/projects/ops-p/timeSeries" {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		q := r.URL.Query()
		queries = append(queries, q.Encode())
		for k, want := range map[string]string{
			"filter":                         `metric.type="logging.googleapis.com/user/gemini_webhook_deliveries" AND metric.labels.line="delivery"`,
			"aggregation.alignmentPeriod":    "86400s",
			"aggregation.perSeriesAligner":   "ALIGN_SUM",
			"aggregation.crossSeriesReducer": "REDUCE_SUM",
			"aggregation.groupByFields":      "metric.label.outcome",
		} {
			if got := q.Get(k); got != want {
				http.Error(w, fmt.Sprintf("%s=%q, want %q", k, got, want), http.StatusBadRequest)
				return
			}
		}
		start, err1 := time.Parse(time.RFC3339, q.Get("interval.startTime"))
		end, err2 := time.Parse(time.RFC3339, q.Get("interval.endTime"))
		if err1 != nil || err2 != nil || end.Sub(start) != 24*time.Hour {
			http.Error(w, "interval "+q.Get("interval.startTime")+" "+q.Get("interval.endTime"), http.StatusBadRequest)
			return
		}
		series := func(outcome string, counts ...string) string {
			var pts []string
			for _, c := range counts {
				pts = append(pts, `{"interval":{"startTime":"`+q.Get("interval.startTime")+`","endTime":"`+q.Get("interval.endTime")+`"},"value":{"int64Value":"`+c+`"}}`)
			}
			return `{"metric":{"type":"logging.googleapis.com/user/gemini_webhook_deliveries","labels":{"outcome":"` + outcome + `"}},` +
				`"resource":{"type":"global","labels":{"project_id":"ops-p"}},"metricKind":"DELTA","valueType":"INT64","points":[` + strings.Join(pts, ",") + `]}`
		}
		w.Header().Set("Content-Type", "application/json")
		if q.Get("pageToken") == "" {
			io.WriteString(w, `{"timeSeries":[`+series("processed", "7", "5")+`,`+series("queued", "0")+`],"nextPageToken":"page2","unit":"1"}`)
			return
		}
		io.WriteString(w, `{"timeSeries":[`+series("rejected", "3")+`]}`)
	}))
	defer standIn.Close()
	host := strings.TrimPrefix(standIn.URL, "http://")
	vars := map[string]string{"STATE_PATH": filepath.Join(t.TempDir(), "state.db"), "GOOGLE_CLOUD_PROJECT": "ops-p", monitoringEmulatorEnv: host}
	getenv := func(k string) string { return vars[k] }
	seed(t, getenv)
	out := statusOut(t, getenv, "--deliveries", "monitoring")
	wantIn(t, out, "deliveries 24h (Monitoring)   processed 12, rejected 3")
	if deliveriesLine(out, "queued") {
		t.Errorf("a zero count is printed:\n%s", out)
	}
	if len(queries) != 2 {
		t.Errorf("%d queries, want 2 pages", len(queries))
	}
	vars["GOOGLE_CLOUD_PROJECT"] = "denied"
	out = statusOut(t, getenv, "--deliveries", "monitoring")
	wantIn(t, out, "deliveries 24h (Monitoring)   not available: cloud monitoring timeSeries.list: googleapi: Error 403")
	vars[monitoringEmulatorEnv] = "example.com:80"
	wantIn(t, statusOut(t, getenv, "--deliveries", "monitoring"), "not available: MONITORING_EMULATOR_HOST=\\\"example.com:80\\\": want a loopback host:port")
}
