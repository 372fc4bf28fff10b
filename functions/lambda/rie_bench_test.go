package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// BenchmarkRIEColdStart starts a fresh execution environment per iteration
// (emulator + bootstrap) and answers one delivery; init-ms is the init
// phase as the emulator's rapid core measured it.
func BenchmarkRIEColdStart(b *testing.B) {
	env := map[string]string{"IDEMPOTENCY_STORE": "memory", "WEBHOOK_SIGNING_SECRET": secretNew}
	var initMS float64
	n := 0
	for b.Loop() {
		r := startRIE(b, env)
		d := delivery{name: "cold", id: fmt.Sprint("msg_cold_", n), secret: secretNew, at: time.Now()}
		checkStatus(b, r.invoke(b, d.event(b, batchBody("cold", d.at))), 200)
		for i := 0; i < 100; i++ { // rapid logs INIT REPORT as init ends; it may trail the answer
			if m := initReportRE.FindStringSubmatch(r.Svc.LogText()); m != nil {
				v, _ := strconv.ParseFloat(m[1], 64)
				initMS += v
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		r.Svc.Stop()
		n++
	}
	b.ReportMetric(initMS/float64(n), "init-ms")
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
