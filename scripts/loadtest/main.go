// Command loadtest drives a receiver on loopback with many concurrent
// senders, every delivery a new webhook-id signed with the static scheme,
// and reports requests/s, latency percentiles, and the server process's CPU
// time per request and peak RSS.
//
// By default it starts and measures, one after the other under identical
// load, three servers:
//
//	baseline  a bare net/http server whose handler reads the body and calls
//	          the Standard Webhooks library's Verify (the floor)
//	memory    the full local server (functions/local) with IDEMPOTENCY_STORE=memory
//	file      the full local server with its default file store
//
//	go run ./scripts/loadtest -c 4 -n 20000
//	go run ./scripts/loadtest -c 64 -n 20000 --targets memory
//	go run ./scripts/loadtest --baseline -c 4 -n 20000
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
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

type options struct {
	targets     []string
	url         string
	secret      string
	pid         int
	concurrency int
	requests    int
	duration    time.Duration
	warmup      int
	serve       string // internal: run the baseline server on this address
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o, err := parseFlags(os.Args[1:])
	if err == nil && o.serve != "" {
		err = serveBaseline(ctx, o.serve, os.Getenv("WEBHOOK_SIGNING_SECRET"))
	} else if err == nil {
		err = run(ctx, o, os.Stdout)
	}
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	var o options
	var targets, secretFile string
	var baseline bool
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.StringVar(&targets, "targets", "baseline,memory,file", "servers to start and measure in turn: baseline, memory, file")
	fs.BoolVar(&baseline, "baseline", false, "measure only the bare net/http + Standard Webhooks Verify server (--targets baseline)")
	fs.StringVar(&o.url, "url", "", "measure an already running receiver on loopback instead of starting servers")
	fs.StringVar(&o.secret, "secret", "", "with --url: its whsec_ signing secret")
	fs.StringVar(&secretFile, "secret-file", "", "with --url: file holding its signing secret")
	fs.IntVar(&o.pid, "pid", 0, "with --url: the receiver's process id, for CPU time and peak RSS")
	fs.IntVar(&o.concurrency, "c", 4, "concurrent senders")
	fs.IntVar(&o.requests, "n", 20000, "measured deliveries per server")
	fs.DurationVar(&o.duration, "duration", 0, "stop a server's measurement after this long even if -n is not reached (0: no limit)")
	fs.IntVar(&o.warmup, "warmup", 1000, "deliveries sent before measuring (connections, caches, heap growth)")
	fs.StringVar(&o.serve, "serve-baseline", "", "internal: serve the baseline on this address")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.serve != "" {
		return o, nil
	}
	if o.concurrency < 1 || o.requests < 1 || o.warmup < 0 {
		return o, errors.New("-c and -n must be positive, --warmup not negative")
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
		return o, nil
	}
	if baseline {
		targets = "baseline"
	}
	for _, t := range strings.Split(targets, ",") {
		switch t = strings.TrimSpace(t); t {
		case "baseline", "memory", "file":
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

func run(ctx context.Context, o options, out io.Writer) error {
	fmt.Fprintf(out, "load: %d concurrent senders, %d warm-up + %d measured deliveries per server, each a new webhook-id\n", o.concurrency, o.warmup, o.requests)
	fmt.Fprintf(out, "machine: %d CPUs, load average at start %s\n", numCPU(), loadAvg())

	var results []measurement
	if o.url != "" {
		m, err := measure(ctx, target{name: o.url, url: o.url, pid: o.pid}, o.secret, o)
		if err != nil {
			return err
		}
		results = append(results, m)
	} else {
		secret, err := newSecret()
		if err != nil {
			return err
		}
		var localBin string
		for _, name := range o.targets {
			if name != "baseline" && localBin == "" {
				dir, err := os.MkdirTemp("", "loadtest-bin-*")
				if err != nil {
					return err
				}
				defer os.RemoveAll(dir)
				if localBin, err = buildLocal(dir); err != nil {
					return err
				}
			}
			t, err := startTarget(ctx, name, secret, localBin)
			if err != nil {
				return err
			}
			m, err := measure(ctx, t, secret, o)
			t.stop()
			if err != nil {
				return err
			}
			if t.logPath != "" {
				m.logged, m.logErr = countOutcomes(t.logPath)
			}
			t.cleanup()
			results = append(results, m)
		}
	}
	report(out, results)
	for _, m := range results {
		if m.failed > 0 {
			return fmt.Errorf("%s: %d deliveries were not answered 200 processed or 202 queued", m.name, m.failed)
		}
	}
	return nil
}

func report(out io.Writer, results []measurement) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "server\tsent\tnot 200\treq/s\tp50 ms\tp99 ms\tmax ms\tserver CPU µs/req\tvs baseline\tpeak RSS MiB\tclient CPU µs/req\t")
	var base float64
	for _, m := range results {
		cpu, rss, ratio := "n/a", "n/a", ""
		if m.pid > 0 {
			cpu = fmt.Sprintf("%.1f", m.cpuPerReq())
			rss = fmt.Sprintf("%.1f", float64(m.peakRSSKiB)/1024)
			if m.name == "baseline" {
				base = m.cpuPerReq()
			} else if base > 0 {
				ratio = fmt.Sprintf("%.2f×", m.cpuPerReq()/base)
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%s\t%s\t%s\t%.1f\t\n",
			m.name, m.sent, m.failed, m.reqPerSec(), ms(m.p50), ms(m.p99), ms(m.max), cpu, ratio, rss, m.clientCPUPerReq())
	}
	tw.Flush()
	for _, m := range results {
		if m.logPath != "" {
			if m.logErr != nil {
				fmt.Fprintf(out, "%s: log not read: %v\n", m.name, m.logErr)
			} else {
				fmt.Fprintf(out, "%s: delivery log lines by outcome, warm-up included: %v\n", m.name, m.logged)
			}
		}
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

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
