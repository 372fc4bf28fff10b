// Command loadtest drives a receiver on loopback with many concurrent
// senders, every delivery a new webhook-id signed with the static scheme,
// and reports requests/s, latency percentiles, and the server process's CPU
// time per request and memory, each as a ratio to a bare floor measured in
// the same run.
//
// It starts, each in a fresh process, and measures under identical load:
//
//	baseline  a bare net/http server whose handler reads the body and calls
//	          the Standard Webhooks library's Verify (the floor), built from
//	          this module's go.mod
//	memory    the local server (local.Main, as functions/local) with IDEMPOTENCY_STORE=memory
//	file      the local server with its default file store and queue
//
// The targets run interleaved, A B C A B C … for --rounds rounds, so that
// other work on the machine disturbs each alike; the report gives every
// round and each target's medians with their ratios to the baseline's.
// A 503 "queue full" (the bounded local queue's deliberate back-pressure,
// which Gemini retries) is counted as pushed back, not as a failure; the
// exit status is 1 only when a delivery was neither accepted nor pushed
// back. Every run waits for the server to process what it accepted (the
// file store's worker) before reading its CPU time and memory.
//
// Modes:
//
//	load       (default) req/s, server CPU µs per request, p50, p99, peak RSS
//	processed  end-to-end: accepted/s, processed/s (until the worker has
//	           processed every accepted delivery), time to drain, and
//	           processed/s ÷ the baseline's req/s; targets baseline,file
//	rss        VmRSS and VmHWM of each server after -n deliveries
//
// --pin CPUS runs the servers bound to those CPUs (sched_setaffinity, as
// taskset -c; the tool needs no taskset) and the load generator on the
// CPUs left, or on the same ones when none is left.
//
//	go run ./scripts/loadtest -c 64 -n 20000
//	go run ./scripts/loadtest -c 64 -n 20000 --targets baseline,memory --rounds 3 --pin 1
//	go run ./scripts/loadtest -c 64 -n 20000 --mode processed
//	go run ./scripts/loadtest -c 64 -n 100000 --mode rss
//	go run ./scripts/loadtest -c 64 -n 20000 --targets memory --rounds 1 --cpuprofile /tmp/prof
//	go run ./scripts/loadtest --url http://127.0.0.1:8080 --secret-file .gemini-webhooks/dev-secret --pid 12345
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

type options struct {
	mode        string // load, processed, rss
	targets     []string
	rounds      int
	pin         cpuSet // the servers' CPUs; nil: not pinned
	url         string
	secret      string
	pid         int
	concurrency int
	requests    int
	duration    time.Duration
	warmup      int
	profileDir  string   // where the local targets write CPU profiles; "": none
	serve       string   // internal: run the baseline server on this address
	execPinned  []string // internal: exec this command bound to pin
}

// The modes, and the targets each measures unless --targets says otherwise.
var modeTargets = map[string]string{
	"load":      "baseline,memory,file",
	"processed": "baseline,file",
	"rss":       "baseline,memory,file",
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o, err := parseFlags(os.Args[1:])
	switch {
	case err != nil:
	case o.execPinned != nil:
		err = execPinned(o.pin, o.execPinned)
	case o.serve != "":
		err = serveBaseline(ctx, o.serve, os.Getenv("WEBHOOK_SIGNING_SECRET"))
	default:
		err = run(ctx, o, os.Stdout)
	}
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	var o options
	var targets, secretFile, pin string
	var baseline, execPinned bool
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.StringVar(&o.mode, "mode", "load", "load: rps, CPU per request, p99 and peak RSS; processed: end-to-end processed/s (the file store's worker included); rss: VmRSS and VmHWM after -n deliveries")
	fs.StringVar(&targets, "targets", "", "servers to start and measure in turn: baseline, memory, file (default: baseline,memory,file; with --mode processed: baseline,file)")
	fs.IntVar(&o.rounds, "rounds", 2, "rounds: the targets run interleaved, A B A B …, each time in a fresh process, and the report gives each round and the median")
	fs.StringVar(&pin, "pin", "", "run the servers on these CPUs (1, 0-1, 0,2), the load generator on the others when any is left")
	fs.BoolVar(&baseline, "baseline", false, "measure only the bare net/http + Standard Webhooks Verify server (--targets baseline)")
	fs.StringVar(&o.url, "url", "", "measure an already running receiver on loopback instead of starting servers")
	fs.StringVar(&o.secret, "secret", "", "with --url: its whsec_ signing secret")
	fs.StringVar(&secretFile, "secret-file", "", "with --url: file holding its signing secret")
	fs.IntVar(&o.pid, "pid", 0, "with --url: the receiver's process id, for CPU time and RSS")
	fs.IntVar(&o.concurrency, "c", 4, "concurrent senders")
	fs.IntVar(&o.requests, "n", 20000, "measured deliveries per server and round")
	fs.DurationVar(&o.duration, "duration", 0, "stop a server's measurement after this long even if -n is not reached (0: no limit)")
	fs.IntVar(&o.warmup, "warmup", 1000, "deliveries sent before measuring (connections, caches, heap growth)")
	fs.StringVar(&o.profileDir, "cpuprofile", "", "write each local server's CPU profile to DIR/<target>-<round>.pprof (go tool pprof)")
	fs.StringVar(&o.serve, "serve-baseline", "", "internal: serve the baseline on this address")
	fs.BoolVar(&execPinned, "exec-pinned", false, "internal: exec the arguments bound to --pin")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if pin != "" {
		var err error
		if o.pin, err = parseCPUList(pin); err != nil {
			return o, err
		}
	}
	if execPinned {
		if o.pin == nil {
			return o, errors.New("--exec-pinned needs --pin")
		}
		o.execPinned = fs.Args()
		return o, nil
	}
	if o.serve != "" {
		return o, nil
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.concurrency < 1 || o.requests < 1 || o.warmup < 0 || o.rounds < 1 {
		return o, errors.New("-c, -n and --rounds must be positive, --warmup not negative")
	}
	if _, ok := modeTargets[o.mode]; !ok {
		return o, fmt.Errorf("--mode: unknown %q (want load, processed, rss)", o.mode)
	}
	if secretFile != "" {
		b, err := os.ReadFile(secretFile)
		if err != nil {
			return o, err
		}
		o.secret = strings.TrimSpace(string(b))
	}
	if o.url != "" {
		u, err := url.Parse(o.url)
		if err != nil || u.Scheme != "http" || !isLoopback(u.Hostname()) {
			return o, errors.New("--url must be http:// on a loopback address: this tool is not for load on shared services")
		}
		if o.secret == "" {
			return o, errors.New("--url needs --secret or --secret-file")
		}
		if o.mode == "processed" {
			return o, errors.New("--mode processed reads the worker's log: it starts its own servers, not --url")
		}
		if o.pin != nil || o.profileDir != "" {
			return o, errors.New("--pin and --cpuprofile apply to the servers this tool starts, not to --url (use taskset -c on it)")
		}
		return o, nil
	}
	if baseline {
		targets = "baseline"
	}
	if targets == "" {
		targets = modeTargets[o.mode]
	}
	for _, t := range strings.Split(targets, ",") {
		switch t = strings.TrimSpace(t); t {
		case "baseline", "memory", "file":
			if slices.Contains(o.targets, t) {
				return o, fmt.Errorf("--targets: %q twice (use --rounds to repeat)", t)
			}
			o.targets = append(o.targets, t)
		default:
			return o, fmt.Errorf("--targets: unknown %q (want baseline, memory, file)", t)
		}
	}
	return o, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// schedule is the order of the runs: every target once per round, in the
// order given, so that a drift in the machine's load (other work on shared
// cores) touches every target alike instead of the last one.
func schedule(targets []string, rounds int) []run1 {
	var out []run1
	for r := 1; r <= rounds; r++ {
		for _, t := range targets {
			out = append(out, run1{target: t, round: r})
		}
	}
	return out
}

// run1 is one target's run in one round.
type run1 struct {
	target string
	round  int
}

func run(ctx context.Context, o options, out io.Writer) error {
	fmt.Fprintf(out, "mode %s: %d concurrent senders, %d warm-up + %d measured deliveries per server and round, each a new webhook-id\n", o.mode, o.concurrency, o.warmup, o.requests)
	fmt.Fprintf(out, "machine: %d CPUs, load average at start %s\n", numCPU(), loadAvg())
	if o.pin != nil {
		clients, shared, err := pinPlan(o.pin)
		if err != nil {
			return err
		}
		if err := pinSelf(clients); err != nil {
			return fmt.Errorf("--pin: the load generator: %w", err)
		}
		if shared {
			fmt.Fprintf(out, "pinned: servers and load generator share CPUs %s (no CPU left for the load generator alone)\n", o.pin)
		} else {
			fmt.Fprintf(out, "pinned: servers on CPUs %s, load generator on %s\n", o.pin, clients)
		}
	}

	var results []measurement
	if o.url != "" {
		m, err := measure(ctx, target{name: o.url, url: o.url, pid: o.pid, round: 1}, o.secret, o)
		if err != nil {
			return err
		}
		results = append(results, m)
	} else {
		secret, err := newSecret()
		if err != nil {
			return err
		}
		if o.profileDir != "" {
			if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
				return err
			}
		}
		var localBin string
		if slices.ContainsFunc(o.targets, func(t string) bool { return t != "baseline" }) {
			dir, err := os.MkdirTemp("", "loadtest-bin-*")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			if localBin, err = buildLocal(dir); err != nil {
				return err
			}
		}
		for _, r := range schedule(o.targets, o.rounds) {
			m, err := runOne(ctx, r, secret, localBin, o)
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "%s round %d: %.0f req/s\n", m.name, m.round, m.reqPerSec())
			results = append(results, m)
		}
	}
	report(out, o.mode, results)
	var bad []string
	for _, m := range results {
		if m.failed > 0 {
			bad = append(bad, fmt.Sprintf("%s round %d: %d failed", m.name, m.round, m.failed))
		}
	}
	if bad != nil {
		return fmt.Errorf("deliveries neither accepted nor pushed back (503 queue full): %s", strings.Join(bad, "; "))
	}
	return nil
}

// runOne starts r's server, measures it and stops it.
func runOne(ctx context.Context, r run1, secret, localBin string, o options) (measurement, error) {
	t, err := startTarget(ctx, r.target, r.round, secret, localBin, o)
	if err != nil {
		return measurement{}, err
	}
	defer t.cleanup()
	m, err := measure(ctx, t, secret, o)
	t.stop()
	if err != nil {
		return m, err
	}
	if t.logPath != "" {
		m.logged, m.logErr = countOutcomes(t.logPath)
	}
	return m, nil
}

// serveBaseline serves baselineHandler until ctx ends.
func serveBaseline(ctx context.Context, addr, secret string) error {
	wh, err := standardWebhook(secret)
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: addr, ReadHeaderTimeout: 5 * time.Second, Handler: baselineHandler(wh)}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// baselineHandler is the floor: read the body, Verify, answer like the receiver.
func baselineHandler(wh *standardwebhooks.Webhook) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if err := wh.Verify(body, r.Header); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"outcome":"rejected"}`))
			return
		}
		_, _ = w.Write([]byte(`{"outcome":"processed"}`))
	})
}
