package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/geminiwebhooks/receiver/scripts/simulator/gemini"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every
// mainstream Linux architecture (reading it needs sysconf, i.e. cgo).
const clockTicks = 100

type measurement struct {
	name       string
	pid        int
	logPath    string
	sent       int
	failed     int // not answered 200 processed or 202 queued
	elapsed    time.Duration
	p50, p99   time.Duration
	max        time.Duration
	cpuTicks   int64 // server utime+stime during the measured phase
	peakRSSKiB int64 // server VmHWM at the end
	clientCPU  time.Duration
	logged     map[string]int // delivery log lines by outcome
	logErr     error
}

func (m measurement) reqPerSec() float64 { return float64(m.sent) / m.elapsed.Seconds() }

func (m measurement) cpuPerReq() float64 { // µs
	return float64(m.cpuTicks) * (1e6 / clockTicks) / float64(m.sent)
}

func (m measurement) clientCPUPerReq() float64 {
	return float64(m.clientCPU.Microseconds()) / float64(m.sent)
}

// delivery is a body and id prepared before the clock starts; it is signed
// just before it is sent, so a long run never ages out of the replay window.
type delivery struct {
	id   string
	body []byte
}

func prepare(n int) []delivery {
	out := make([]delivery, n)
	now := time.Now()
	for i := range out {
		typ := gemini.Catalogue[i%len(gemini.Catalogue)]
		out[i] = delivery{gemini.NewID(), gemini.NewPayload(typ, now, nil)}
	}
	return out
}

func measure(ctx context.Context, t target, secret string, o options) (measurement, error) {
	m := measurement{name: t.name, pid: t.pid, logPath: t.logPath}
	all := prepare(o.warmup + o.requests)
	signer := gemini.StaticSigner{Secret: secret}
	if _, err := signer.Sign("msg_check", time.Now(), nil); err != nil {
		return m, err
	}
	client := &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        o.concurrency,
			MaxIdleConnsPerHost: o.concurrency,
			MaxConnsPerHost:     o.concurrency,
			DisableCompression:  true,
		},
	}
	defer client.CloseIdleConnections()

	warm := send(ctx, client, signer, t.url, all[:o.warmup], o.concurrency, 0)
	if warm.failed > 0 {
		return m, fmt.Errorf("%s: %d of %d warm-up deliveries failed (first: %s)", t.name, warm.failed, o.warmup, warm.firstErr)
	}

	cpu0, err := procCPUTicks(t.pid)
	if err != nil {
		return m, err
	}
	var ru0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	r := send(ctx, client, signer, t.url, all[o.warmup:], o.concurrency, o.duration)
	var ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	// Work the server does after answering (a queued event's processing)
	// belongs to the requests too: read its CPU once it has gone idle.
	cpu1, err := settledCPUTicks(ctx, t.pid)
	if err != nil {
		return m, err
	}
	m.peakRSSKiB, err = procHWM(t.pid)
	if err != nil {
		return m, err
	}
	m.sent, m.failed, m.elapsed = r.sent, r.failed, r.elapsed
	m.cpuTicks = cpu1 - cpu0
	m.clientCPU = rusageCPU(ru1) - rusageCPU(ru0)
	lat := r.latencies
	slices.Sort(lat)
	if len(lat) > 0 {
		m.p50 = lat[len(lat)*50/100]
		m.p99 = lat[min(len(lat)*99/100, len(lat)-1)]
		m.max = lat[len(lat)-1]
	}
	if r.failed > 0 {
		fmt.Fprintf(os.Stderr, "%s: first failure: %s\n", t.name, r.firstErr)
	}
	return m, nil
}

type sendResult struct {
	sent, failed int
	firstErr     string
	elapsed      time.Duration
	latencies    []time.Duration
}

// send posts ds with c workers; with limit > 0 it stops starting new
// deliveries once limit has passed.
func send(ctx context.Context, client *http.Client, signer gemini.Signer, url string, ds []delivery, c int, limit time.Duration) sendResult {
	lat := make([]time.Duration, len(ds))
	ok := make([]bool, len(ds))
	var next atomic.Int64
	var errOnce sync.Once
	var firstErr string
	start := time.Now()
	var wg sync.WaitGroup
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(ds) || ctx.Err() != nil || (limit > 0 && time.Since(start) > limit) {
					return
				}
				t0 := time.Now()
				status, body, err := post(ctx, client, signer, url, ds[i])
				lat[i] = time.Since(t0)
				// Processed inline (200) or queued durably for the embedded worker (202).
				ok[i] = err == nil && (status == http.StatusOK && bytes.Contains(body, []byte(`"outcome":"processed"`)) ||
					status == http.StatusAccepted && bytes.Contains(body, []byte(`"outcome":"queued"`)))
				if !ok[i] {
					errOnce.Do(func() { firstErr = fmt.Sprintf("status %d, %v, %s", status, err, body) })
				}
			}
		}()
	}
	wg.Wait()
	r := sendResult{elapsed: time.Since(start), firstErr: firstErr}
	n := min(int(next.Load()), len(ds))
	// With a time limit a worker may have claimed an index and not sent it.
	for i := range n {
		if lat[i] == 0 {
			continue
		}
		r.sent++
		r.latencies = append(r.latencies, lat[i])
		if !ok[i] {
			r.failed++
		}
	}
	return r
}

func post(ctx context.Context, client *http.Client, signer gemini.Signer, url string, d delivery) (int, []byte, error) {
	h, err := signer.Sign(d.id, time.Now(), d.body)
	if err != nil {
		return 0, nil, err
	}
	h.Set("Content-Type", "application/json")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(d.body))
	if err != nil {
		return 0, nil, err
	}
	req.Header = h
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, body, err
}

// procCPUTicks is utime+stime of pid (fields 14 and 15 of /proc/<pid>/stat).
func procCPUTicks(pid int) (int64, error) {
	if pid == 0 {
		return 0, nil
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields after it follow ")".
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad utime/stime", pid)
	}
	return utime + stime, nil
}

// settledCPUTicks reads pid's CPU time once it stops growing (two readings
// 500 ms apart agree), or after 30 s.
func settledCPUTicks(ctx context.Context, pid int) (int64, error) {
	last, err := procCPUTicks(pid)
	deadline := time.Now().Add(30 * time.Second)
	for err == nil && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(500 * time.Millisecond)
		var now int64
		if now, err = procCPUTicks(pid); err == nil && now == last {
			return now, nil
		}
		last = now
	}
	return last, err
}

// procHWM is the peak resident set size of pid in KiB (VmHWM).
func procHWM(pid int) (int64, error) {
	if pid == 0 {
		return 0, nil
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmHWM", pid)
}

func rusageCPU(r syscall.Rusage) time.Duration {
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}

func numCPU() int { return runtime.NumCPU() }

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
