package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
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

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/scripts/simulator/gemini"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every
// mainstream Linux architecture (reading it needs sysconf, i.e. cgo).
const clockTicks = 100

type measurement struct {
	name    string
	round   int
	pid     int
	logPath string
	sent    int
	verdicts
	elapsed    time.Duration // sending the measured deliveries
	drain      time.Duration // from the last answer until the worker finished the queued ones
	p50, p99   time.Duration
	max        time.Duration
	cpuTicks   int64 // server utime+stime during the measured phase, queued work included
	peakRSSKiB int64 // server VmHWM at the end
	rssKiB     int64 // server VmRSS at the end, once idle
	anonKiB    int64 // of which RssAnon: not the state file's mapped pages, which the kernel may drop
	clientCPU  time.Duration
	logged     map[string]int // delivery log lines by outcome
	logErr     error
}

func (m measurement) reqPerSec() float64 { return float64(m.sent) / m.elapsed.Seconds() }

// acceptedPerSec is the rate of 200 processed and 202 queued answers.
func (m measurement) acceptedPerSec() float64 { return float64(m.accepted) / m.elapsed.Seconds() }

// processedPerSec counts a queued delivery when the worker has finished it:
// the end-to-end rate.
func (m measurement) processedPerSec() float64 {
	return float64(m.accepted) / (m.elapsed + m.drain).Seconds()
}

func (m measurement) cpuPerReq() float64 { // µs
	return float64(m.cpuTicks) * (1e6 / clockTicks) / float64(m.sent)
}

func (m measurement) clientCPUPerReq() float64 {
	return float64(m.clientCPU.Microseconds()) / float64(m.sent)
}

// verdict is how the load generator counts one answer.
type verdict int

const (
	accepted   verdict = iota // 200 processed, or 202 queued for the worker
	pushedBack                // 503 queue full: the bounded local queue's deliberate back-pressure
	failed                    // anything else
)

// verdicts counts answers by verdict; queued is the part of accepted the worker still owes.
type verdicts struct {
	accepted, queued, pushedBack, failed int
}

func (v *verdicts) add(x verdict, queued bool) {
	switch x {
	case accepted:
		v.accepted++
		if queued {
			v.queued++
		}
	case pushedBack:
		v.pushedBack++
	default:
		v.failed++
	}
}

// classify reads an answer of the receiver (or of the baseline, which
// answers like it). Only a 503 whose reason is "queue full" is push-back:
// Gemini retries it, nothing is lost, and the receiver chose to answer it.
// It reports whether an accepted delivery was queued.
func classify(status int, body []byte, err error) (verdict, bool) {
	if err != nil {
		return failed, false
	}
	var b struct{ Outcome, Reason string }
	_ = json.Unmarshal(body, &b)
	switch {
	case status == http.StatusOK && b.Outcome == string(core.OutcomeProcessed):
		return accepted, false
	case status == http.StatusAccepted && b.Outcome == string(core.OutcomeQueued):
		return accepted, true
	case status == http.StatusServiceUnavailable && b.Reason == "queue full":
		return pushedBack, false
	}
	return failed, false
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

// measure sends the warm-up, waits for the worker to finish it, then sends
// the measured deliveries and waits again: the server's CPU and memory are
// read once everything it accepted has been processed.
func measure(ctx context.Context, t target, secret string, o options) (measurement, error) {
	m := measurement{name: t.name, round: t.round, pid: t.pid, logPath: t.logPath}
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
	if err := awaitProcessed(ctx, t.processedPath, warm.accepted, t.name); err != nil {
		return m, err
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
	sentAt := time.Now()
	if err := awaitProcessed(ctx, t.processedPath, warm.accepted+r.accepted, t.name); err != nil {
		return m, err
	}
	if r.queued > 0 {
		m.drain = time.Since(sentAt)
	}
	// Whatever else the server does after answering (a store's background
	// work, the garbage collector) belongs to the requests too: read its CPU
	// once it has gone idle.
	cpu1, err := settledCPUTicks(ctx, t.pid)
	if err != nil {
		return m, err
	}
	if m.rssKiB, err = procStatusKiB(t.pid, "VmRSS"); err != nil {
		return m, err
	}
	if m.anonKiB, err = procStatusKiB(t.pid, "RssAnon"); err != nil {
		return m, err
	}
	if m.peakRSSKiB, err = procStatusKiB(t.pid, "VmHWM"); err != nil {
		return m, err
	}
	m.sent, m.verdicts, m.elapsed = r.sent, r.verdicts, r.elapsed
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

// stall is how long the server may process nothing before the run gives up on it.
const stall = time.Minute

// awaitProcessed waits until the server has processed want events since
// it started, as its counter file says ("": nothing to wait for; see
// scripts/loadtest/server). A delivery answered 202 is processed later by
// the worker; one answered 200 was processed before the answer.
func awaitProcessed(ctx context.Context, path string, want int, name string) error {
	if path == "" {
		return nil
	}
	last, progress := int64(-1), time.Now()
	for {
		n, err := readCount(path)
		if err != nil {
			return err
		}
		if n >= int64(want) {
			return nil
		}
		if n != last {
			last, progress = n, time.Now()
		} else if time.Since(progress) > stall {
			return fmt.Errorf("%s: processed %d of %d accepted deliveries, and none for %s", name, n, want, stall)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// readCount reads a counter file; a file not written yet counts 0.
func readCount(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) || err == nil && len(bytes.TrimSpace(b)) == 0 {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
}

type sendResult struct {
	sent int
	verdicts
	firstErr  string
	elapsed   time.Duration
	latencies []time.Duration
}

// answer is one delivery's result; zero latency means not sent.
type answer struct {
	lat    time.Duration
	v      verdict
	queued bool
}

// send posts ds with c workers; with limit > 0 it stops starting new
// deliveries once limit has passed.
func send(ctx context.Context, client *http.Client, signer gemini.Signer, url string, ds []delivery, c int, limit time.Duration) sendResult {
	ans := make([]answer, len(ds))
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
				a := answer{lat: max(time.Since(t0), 1)}
				a.v, a.queued = classify(status, body, err)
				ans[i] = a
				if a.v == failed {
					errOnce.Do(func() { firstErr = fmt.Sprintf("status %d, %v, %s", status, err, body) })
				}
			}
		}()
	}
	wg.Wait()
	r := sendResult{elapsed: time.Since(start), firstErr: firstErr}
	n := min(int(next.Load()), len(ds))
	// With a time limit a worker may have claimed an index and not sent it.
	for _, a := range ans[:n] {
		if a.lat == 0 {
			continue
		}
		r.sent++
		r.latencies = append(r.latencies, a.lat)
		r.add(a.v, a.queued)
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

// procStatusKiB is a memory field of /proc/<pid>/status in KiB: VmRSS
// (resident now), RssAnon (its part that is not file-backed) or VmHWM
// (the peak).
func procStatusKiB(pid int, field string) (int64, error) {
	if pid == 0 {
		return 0, nil
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no %s", pid, field)
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
