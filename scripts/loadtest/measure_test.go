package main

import (
	"context"
	"net/http/httptest"
	"os"
	"testing"

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
