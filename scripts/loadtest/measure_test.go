package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The load generator against the baseline handler in this process: every
// delivery verifies, and the /proc readings of our own pid are sane.
func TestMeasureBaselineInProcess(t *testing.T) {
	secret, err := newSecret()
	if err != nil {
		t.Fatal(err)
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(baselineHandler(wh))
	defer srv.Close()
	o := options{concurrency: 4, requests: 300, warmup: 20}

	m, err := measure(context.Background(), target{name: "baseline", url: srv.URL, pid: os.Getpid()}, secret, o)
	if err != nil {
		t.Fatal(err)
	}
	if m.sent != 300 || m.failed != 0 {
		t.Fatalf("sent %d, failed %d: want 300 sent, all verified", m.sent, m.failed)
	}
	if !(m.p50 > 0 && m.p50 <= m.p99 && m.p99 <= m.max) {
		t.Fatalf("latencies p50 %v p99 %v max %v out of order", m.p50, m.p99, m.max)
	}
	if m.peakRSSKiB <= 0 || m.cpuTicks < 0 {
		t.Fatalf("peak RSS %d KiB, CPU %d ticks: not read from /proc", m.peakRSSKiB, m.cpuTicks)
	}
}

// Deliveries signed with another secret are all counted as failed.
func TestMeasureCountsRejections(t *testing.T) {
	secret, _ := newSecret()
	other, _ := newSecret()
	wh, err := standardwebhooks.NewWebhook(other)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(baselineHandler(wh))
	defer srv.Close()
	m, err := measure(context.Background(), target{name: "wrong secret", url: srv.URL}, secret, options{concurrency: 2, requests: 50})
	if err != nil {
		t.Fatal(err)
	}
	if m.sent != 50 || m.failed != 50 {
		t.Fatalf("sent %d, failed %d: want all 50 failed", m.sent, m.failed)
	}
}

func TestParseFlagsLoopbackOnly(t *testing.T) {
	for _, u := range []string{"https://example.com", "http://10.0.0.1:8080", "http://example.com"} {
		if _, err := parseFlags([]string{"--url", u, "--secret", "whsec_x"}); err == nil {
			t.Errorf("--url %s accepted", u)
		}
	}
	for _, u := range []string{"http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:2"} {
		if _, err := parseFlags([]string{"--url", u, "--secret", "whsec_x"}); err != nil {
			t.Errorf("--url %s: %v", u, err)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		name   string
		status int
		body   string
		err    error
		want   verdict
		queued bool
	}{
		{"processed inline", 200, `{"outcome":"processed","webhook_id":"msg_1"}`, nil, accepted, false},
		{"queued for the worker", 202, `{"outcome":"queued","webhook_id":"msg_1"}`, nil, accepted, true},
		{"queue full is push-back", 503, `{"outcome":"failed","webhook_id":"msg_1","reason":"queue full"}`, nil, pushedBack, false},
		{"store unavailable is a failure", 503, `{"outcome":"failed","reason":"idempotency store unavailable"}`, nil, failed, false},
		{"queue unavailable is a failure", 503, `{"outcome":"failed","reason":"queue unavailable"}`, nil, failed, false},
		{"duplicate of a new id is a failure", 200, `{"outcome":"duplicate"}`, nil, failed, false},
		{"rejected", 401, `{"outcome":"rejected","reason":"signature verification failed"}`, nil, failed, false},
		{"queued but 200", 200, `{"outcome":"queued"}`, nil, failed, false},
		{"not JSON", 503, `queue full`, nil, failed, false},
		{"transport error", 0, "", errors.New("connection refused"), failed, false},
	} {
		v, q := classify(c.status, []byte(c.body), c.err)
		if v != c.want || q != c.queued {
			t.Errorf("%s: got verdict %d queued %v, want %d %v", c.name, v, q, c.want, c.queued)
		}
	}
}

// A receiver that pushes back every third delivery: the push-back is
// counted apart, and none of it is a failure.
func TestMeasureCountsPushBackApart(t *testing.T) {
	secret, _ := newSecret()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if n.Add(1)%3 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"outcome":"failed","reason":"queue full"}`))
			return
		}
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"outcome":"queued"}`))
	}))
	defer srv.Close()
	m, err := measure(context.Background(), target{name: "pushy", url: srv.URL}, secret, options{concurrency: 3, requests: 90})
	if err != nil {
		t.Fatal(err)
	}
	if m.sent != 90 || m.pushedBack != 30 || m.accepted != 60 || m.queued != 60 || m.failed != 0 {
		t.Fatalf("sent %d, accepted %d (queued %d), pushed back %d, failed %d: want 90, 60 (60), 30, 0",
			m.sent, m.accepted, m.queued, m.pushedBack, m.failed)
	}
}

func TestScheduleInterleaves(t *testing.T) {
	got := schedule([]string{"baseline", "memory", "file"}, 2)
	want := []run1{{"baseline", 1}, {"memory", 1}, {"file", 1}, {"baseline", 2}, {"memory", 2}, {"file", 2}}
	if !slices.Equal(got, want) {
		t.Fatalf("schedule: %v, want %v", got, want)
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{7}, 7},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{10, 10, 1000}, 10}, // one disturbed round does not move it
	} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// The median table divides each server's median by the baseline's median.
func TestReportRatios(t *testing.T) {
	sec := time.Second
	rs := []measurement{
		{name: "baseline", round: 1, sent: 1000, elapsed: sec, cpuTicks: 10, p99: 2 * time.Millisecond, peakRSSKiB: 10 << 10},
		{name: "memory", round: 1, sent: 1000, elapsed: 2 * sec, cpuTicks: 30, p99: 3 * time.Millisecond, peakRSSKiB: 30 << 10},
		{name: "baseline", round: 2, sent: 1000, elapsed: sec / 3, cpuTicks: 10, p99: 2 * time.Millisecond, peakRSSKiB: 10 << 10},
		{name: "memory", round: 2, sent: 1000, elapsed: 2 * sec, cpuTicks: 30, p99: 3 * time.Millisecond, peakRSSKiB: 30 << 10},
	}
	for i := range rs {
		rs[i].accepted = rs[i].sent
	}
	var out strings.Builder
	report(&out, "load", rs)
	// baseline: median of 1000 and 3000 req/s = 2000; memory 500: 0.25×.
	// CPU 100 µs vs 300 µs: 3.00×; p50 (not compared) 0; p99 1.50×; peak RSS 3.00×.
	var memLine string
	for _, l := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "memory" && f[1] == "2" && strings.Contains(l, "×") {
			memLine = l
		}
	}
	want := []string{"500", "0.25×", "300.0", "3.00×", "0.00", "3.00", "1.50×", "30.0", "3.00×"}
	f := strings.Fields(memLine)
	if len(f) < 2+len(want) || !slices.Equal(f[2:2+len(want)], want) {
		t.Fatalf("memory's median line %q, want it to begin memory 2 %v\n%s", memLine, want, out.String())
	}
}

func TestParseFlagsErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--rounds", "0"}, "--rounds"},
		{[]string{"-c", "0"}, "-c"},
		{[]string{"--mode", "fast"}, "--mode"},
		{[]string{"--targets", "baseline,redis"}, "unknown"},
		{[]string{"--targets", "memory,memory"}, "twice"},
		{[]string{"--pin", "x"}, "--pin"},
		{[]string{"--pin", "2-1"}, "--pin"},
		{[]string{"--url", "http://127.0.0.1:1", "--secret", "whsec_x", "--mode", "processed"}, "processed"},
		{[]string{"--url", "http://127.0.0.1:1", "--secret", "whsec_x", "--pin", "0"}, "--pin"},
		{[]string{"--url", "http://127.0.0.1:1", "--secret", "whsec_x", "--cpuprofile", "/tmp"}, "--cpuprofile"},
		{[]string{"--url", "http://127.0.0.1:1"}, "--secret"},
		{[]string{"stray"}, "unexpected"},
	} {
		_, err := parseFlags(c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one naming %q", c.args, err, c.want)
		}
	}
}

func TestParseFlagsModes(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"baseline", "memory", "file"}},
		{[]string{"--mode", "processed"}, []string{"baseline", "file"}},
		{[]string{"--mode", "rss", "--targets", "memory, baseline"}, []string{"memory", "baseline"}},
		{[]string{"--baseline"}, []string{"baseline"}},
	} {
		o, err := parseFlags(c.args)
		if err != nil || !slices.Equal(o.targets, c.want) || o.rounds != 2 {
			t.Errorf("%v: targets %v rounds %d, %v; want %v, 2 rounds", c.args, o.targets, o.rounds, err, c.want)
		}
	}
}

func TestParseCPUList(t *testing.T) {
	for _, c := range []struct {
		in   string
		want cpuSet
	}{
		{"1", cpuSet{1}},
		{"0-1", cpuSet{0, 1}},
		{"3,0-1", cpuSet{0, 1, 3}},
		{"1,1", cpuSet{1}},
		{"", nil},
		{"-1", nil},
		{"1-", nil},
		{"a", nil},
		{"4096", nil},
	} {
		got, err := parseCPUList(c.in)
		if (err == nil) != (c.want != nil) || !slices.Equal(got, c.want) {
			t.Errorf("parseCPUList(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}

// Pinning refuses a CPU this process may not use, and pins and unpins the
// load generator's threads for real.
func TestPinning(t *testing.T) {
	allowed, err := allowedCPUs()
	if err != nil {
		t.Skip("no CPU affinity here:", err)
	}
	if _, _, err := pinPlan(cpuSet{maxCPUs - 1}); err == nil || !strings.Contains(err.Error(), "may use") {
		t.Errorf("pinning to CPU %d: %v, want a refusal", maxCPUs-1, err)
	}
	clients, shared, err := pinPlan(allowed)
	if err != nil || !shared || !slices.Equal(clients, allowed) {
		t.Errorf("servers on every CPU: clients %v shared %v, %v; want them sharing", clients, shared, err)
	}
	if len(allowed) > 1 {
		clients, shared, err := pinPlan(allowed[:1])
		if err != nil || shared || !slices.Equal(clients, allowed[1:]) {
			t.Errorf("servers on %v: clients %v shared %v, %v; want %v", allowed[:1], clients, shared, err, allowed[1:])
		}
	}
	defer func() {
		if err := pinSelf(allowed); err != nil {
			t.Fatal("restoring the affinity:", err)
		}
	}()
	if err := pinSelf(allowed[:1]); err != nil {
		t.Fatal(err)
	}
	if got, err := allowedCPUs(); err != nil || !slices.Equal(got, allowed[:1]) {
		t.Fatalf("after pinning to %v: affinity %v, %v", allowed[:1], got, err)
	}
}

func TestAwaitProcessed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "processed")
	if err := awaitProcessed(context.Background(), path, 0, "absent"); err != nil {
		t.Fatal("no file yet, nothing owed:", err)
	}
	if err := awaitProcessed(context.Background(), "", 5, "baseline"); err != nil {
		t.Fatal("no counter to wait for:", err)
	}
	go func() {
		for i := range 6 {
			_ = os.WriteFile(path, []byte(fmt.Sprintf("%20d", i)), 0o600)
		}
	}()
	if err := awaitProcessed(context.Background(), path, 5, "server"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := awaitProcessed(ctx, path, 10, "server"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled while owed 5: %v", err)
	}
}
