package lambdarie

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
)

// BenchmarkRIEColdStart starts a fresh execution environment per
// iteration (emulator + function) and answers one delivery, alternating the
// bootstrap with a bare aws-lambda-go function (testdata/bare, the floor):
// init-ms and bare-init-ms are the init phases as the emulator's rapid core
// measured them, init-ratio their ratio in the same run (goal ≤ 2), and
// the MB metrics the binaries' sizes (goal ≤ 20 for the bootstrap). A
// third, testdata/deps, is the bare function linking the clients the design
// names (Firestore, genai, the AWS SDK's S3, SQS and Secrets Manager) and
// using none: deps-init-ratio is what their package initialisation alone
// costs (it runs whether they are used or not); deps-MB is only a lower
// bound of their size, since the linker drops what nothing calls.
//
// The same bootstrap then starts with each cloud store, Firestore (on the
// emulator) and DynamoDB (on moto_server): firestore-init-ms and
// dynamodb-init-ms are their init phases, dynamodb/firestore-init their
// ratio, and the -first-ms metrics the first invocation as its caller waits
// for it (init, then a new delivery: claim, ledger, completion). One binary
// serves both stores, so bootstrap-MB is the size of each.
//
//	go test ./adapters/internal/lambdarie -run '^$' -bench RIEColdStart -benchtime 10x
func BenchmarkRIEColdStart(b *testing.B) {
	bare, err := testenv.BuildBootstrap(context.Background(), "testdata/bare", b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	deps, err := testenv.BuildBootstrap(context.Background(), "testdata/deps", b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	env := map[string]string{"IDEMPOTENCY_STORE": "memory", "WEBHOOK_SIGNING_SECRET": secretNew}
	stores := []string{"firestore", "dynamodb"}
	storeEnv := map[string]map[string]string{}
	for _, s := range stores {
		storeEnv[s] = map[string]string{"WEBHOOK_SIGNING_SECRET": secretNew}
		for k, v := range openStoreUnderTest(b, s).env {
			storeEnv[s][k] = v
		}
	}
	var initMS, bareMS, depsMS float64
	storeInit, storeFirst := map[string]float64{}, map[string]float64{}
	n := 0
	for b.Loop() {
		d := delivery{name: "cold", id: fmt.Sprint("msg_cold_", n), secret: secretNew, at: time.Now()}
		ev := d.event(b, batchBody("cold", d.at))
		ms, _ := coldStart(b, bare, nil, ev)
		bareMS += ms
		ms, _ = coldStart(b, bootstrapPath, env, ev)
		initMS += ms
		ms, _ = coldStart(b, deps, nil, ev)
		depsMS += ms
		for _, s := range stores {
			ms, first := coldStart(b, bootstrapPath, storeEnv[s], ev)
			storeInit[s] += ms
			storeFirst[s] += first
		}
		n++
	}
	for _, s := range stores {
		b.ReportMetric(storeInit[s]/float64(n), s+"-init-ms")
		b.ReportMetric(storeFirst[s]/float64(n), s+"-first-ms")
	}
	b.ReportMetric(storeInit["dynamodb"]/storeInit["firestore"], "dynamodb/firestore-init")
	b.ReportMetric(storeFirst["dynamodb"]/storeFirst["firestore"], "dynamodb/firestore-first")
	b.ReportMetric(initMS/float64(n), "init-ms")
	b.ReportMetric(bareMS/float64(n), "bare-init-ms")
	b.ReportMetric(initMS/bareMS, "init-ratio")
	b.ReportMetric(depsMS/bareMS, "deps-init-ratio")
	for name, p := range map[string]string{"bootstrap-MB": bootstrapPath, "bare-MB": bare, "deps-MB": deps} {
		if fi, err := os.Stat(p); err == nil {
			b.ReportMetric(float64(fi.Size())/1e6, name)
		}
	}
}

// coldStart runs bootstrap in a fresh emulator, answers ev with 200 and
// returns the init phase's milliseconds and how long the invocation took
// as its caller saw it.
func coldStart(b *testing.B, bootstrap string, env map[string]string, ev any) (initMS, invokeMS float64) {
	b.Helper()
	r, err := testenv.StartRIE(context.Background(), bootstrap, env)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Stop()
	began := time.Now()
	out, err := r.Invoke(context.Background(), ev)
	if err != nil {
		b.Fatal(err)
	}
	invokeMS = float64(time.Since(began).Microseconds()) / 1000
	checkStatus(b, out, 200)
	for range 100 { // rapid logs INIT REPORT as init ends; it may trail the answer
		if m := initReportRE.FindStringSubmatch(r.Svc.LogText()); m != nil {
			v, _ := strconv.ParseFloat(m[1], 64)
			return v, invokeMS
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.Fatalf("no INIT REPORT from %s:\n%s", bootstrap, r.Svc.LogText())
	return 0, 0
}

// BenchmarkRIEInvoke sends new signed deliveries (claim, process, complete)
// to one warm environment; fn-ms is the function's duration per the
// emulator's REPORT lines, ns/op includes the emulator's HTTP hop.
func BenchmarkRIEInvoke(b *testing.B) {
	stores := map[string]map[string]string{
		"memory": {"IDEMPOTENCY_STORE": "memory", "WEBHOOK_SIGNING_SECRET": secretNew},
		"firestore": {"IDEMPOTENCY_STORE": "firestore", "WEBHOOK_SIGNING_SECRET": secretNew,
			"FIRESTORE_EMULATOR_HOST": firestoreHost, "GOOGLE_CLOUD_PROJECT": fmt.Sprintf("lambda-bench-%d-%d", os.Getpid(), time.Now().UnixNano())},
	}
	for _, name := range []string{"memory", "firestore"} {
		b.Run("store="+name, func(b *testing.B) {
			r := startRIE(b, stores[name])
			now := time.Now()
			warm := delivery{name: "warm", id: fmt.Sprint("msg_bench_warm_", now.UnixNano()), secret: secretNew, at: now}
			checkStatus(b, r.invoke(b, warm.event(b, batchBody("warm", now))), 200)
			skip := len(durationRE.FindAllString(r.Stdout.String(), -1))
			i := 0
			for b.Loop() {
				d := delivery{name: "bench", id: fmt.Sprintf("msg_bench_%s_%d_%d", name, now.UnixNano(), i), secret: secretNew, at: time.Now()}
				checkStatus(b, r.invoke(b, d.event(b, batchBody(d.id, d.at))), 200)
				i++
			}
			time.Sleep(100 * time.Millisecond) // let the last REPORT line arrive
			var sum float64
			ms := durationRE.FindAllStringSubmatch(r.Stdout.String(), -1)
			for _, m := range ms[skip:] {
				v, _ := strconv.ParseFloat(m[1], 64)
				sum += v
			}
			if n := len(ms) - skip; n > 0 {
				b.ReportMetric(sum/float64(n), "fn-ms")
			}
		})
	}
}

func checkStatus(tb testing.TB, out []byte, want int) {
	tb.Helper()
	var resp events.LambdaFunctionURLResponse
	if err := json.Unmarshal(out, &resp); err != nil || resp.StatusCode != want {
		tb.Fatalf("answer %s, want status %d", out, want)
	}
}
