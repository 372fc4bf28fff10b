// Package local runs a mux as the local server: the receiver on
// 127.0.0.1:$PORT with embedded defaults (a file-backed idempotency store, a
// durable queue and worker in the same file, results landing in ./results,
// and, when no signing secret is configured, a development secret made once
// and kept on disk), plus the admin subcommands (jobs, deadletters, tasks).
//
//	func main() { local.Main(core.NewMux().On(core.BatchSucceeded, save)) }
package local

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/internal/aws"
	"github.com/geminiwebhooks/receiver/adapters/internal/env"
	"github.com/geminiwebhooks/receiver/adapters/internal/gcs"
	"github.com/geminiwebhooks/receiver/adapters/internal/inspector"
	"github.com/geminiwebhooks/receiver/adapters/internal/pubsub"
	"github.com/geminiwebhooks/receiver/adapters/internal/wire"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/reconcile"
	"github.com/geminiwebhooks/receiver/core/verify"
	"golang.org/x/net/netutil"
)

// devSecretPath keeps the development secret beside the local state.
const devSecretPath = ".gemini-webhooks/dev-secret"

// Main runs mux (nil: core.NewMux()) behind the built-in actions: with no
// arguments it serves until SIGINT or SIGTERM; with arguments it runs an
// admin subcommand (jobs list, deadletters list|replay KEY, tasks list,
// reconcile [--since D] [--dry-run]); the server reconciles with the Gemini
// API every reconcile.Interval (15 min) when GEMINI_API_KEY is set. The
// server's logger (JSON lines on stdout) is installed as slog.Default(), so
// that a handler's own lines (slog's functions, core.Logger(ctx)) come out
// with the server's. It exits the process: 2 for a configuration mistake (named on stderr), 1 for
// any other failure.
func Main(mux *core.Mux) {
	if len(os.Args) > 1 { // operator subcommands: admin.go
		os.Exit(adminMain(context.Background(), mux, os.Args[1:], env.Getenv, os.Stdout, os.Stderr))
	}
	if err := run(context.Background(), mux, env.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "local:", err)
		if errors.Is(err, errConfig) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// errConfig marks a configuration mistake (exit status 2).
var errConfig = errors.New("configuration")

// cloud is every queue, sink and source the local server can use: against
// the Pub/Sub emulator, moto_server, a Cloud Storage emulator or the real
// clouds, as cfg points them.
func cloud(cfg env.Config) wire.Cloud {
	return wire.AWSCloud(&aws.Clients{S3EndpointURL: cfg.S3EndpointURL}).Merge(
		wire.GoogleCloud(pubsub.Publisher{EmulatorHost: cfg.PubSubEmulatorHost}.Open, &gcs.Clients{EmulatorHost: cfg.StorageEmulatorHost}))
}

func run(ctx context.Context, mux *core.Mux, getenv func(string) string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, err := env.Load(getenv, env.Local)
	if err != nil {
		return fmt.Errorf("%w: %w", errConfig, err)
	}
	if len(cfg.SigningSecrets) == 0 && cfg.Audience == "" {
		secret, created, err := devSecret(devSecretPath)
		if err != nil {
			return err
		}
		cfg.SigningSecrets = []string{secret}
		announceDevSecret(stderr, secret, created, cfg.Port)
	}

	// The handlers' own lines (slog's functions, core.Logger(ctx)) go
	// where the server's go, in the same format.
	ui := inspector.New() // reads the delivery and task lines as they are written
	logger := slog.New(ui.LogHandler(slog.NewJSONHandler(stdout, nil)))
	slog.SetDefault(logger)
	cl := cloud(cfg)
	cl.Name = "the local server"
	app, err := wire.Build(ctx, cfg, mux, wire.Options{Logger: logger, Cloud: cl, LocalQueue: true})
	if err != nil {
		return err
	}
	defer app.Close()
	stopAdmin, err := serveAdmin(app, logger, ui)
	if err != nil {
		return err
	}
	defer stopAdmin()

	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", cfg.Port))
	if err != nil {
		return err
	}
	ln = netutil.LimitListener(ln, maxConns)
	srv := newServer(ui.Wrap(app.Receiver))
	connectInspector(ui, app, ln.Addr().String())
	if sw, ok := app.Store.(interface{ Sweep(time.Time) (int, error) }); ok {
		go sweepLoop(ctx, sw, logger)
	}
	if app.Processing.Gemini != nil {
		go reconcileLoop(ctx, app, logger, reconcile.Interval)
	}
	fmt.Fprintf(stderr, "gemini webhook receiver listening on http://%s (schemes: %v, store: %s)\n", ln.Addr(), cfg.Schemes(), cfg.IdempotencyStore)
	if s := app.Processing.Sink; s != nil {
		announceLanding(stderr, s.URI(""), app.Processing.Gemini != nil)
	}
	fmt.Fprintf(stderr, "Inspector (deliveries, jobs, dead letters) — open in a browser:\n  %s\n", ui.URL(adminURL(app)))

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// maxConns bounds the connections (and so the bodies being read) the local
// server serves at once: past it new connections wait in the kernel's accept
// queue instead of costing memory and descriptors. Gemini's retries are
// sequential per delivery, so a handful would do; 256 leaves room for bursts.
const maxConns = 256

// newServer sets every timeout an unauthenticated peer could otherwise
// stretch: headers, the whole body, the answer, and the idle time of a
// keep-alive connection (without it an idle connection holds its slot of
// maxConns forever).
func newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

// devSecret returns the stored development secret, making one on first use.
func devSecret(path string) (secret string, created bool, err error) {
	if b, err := os.ReadFile(path); err == nil {
		s := strings.TrimSpace(string(b))
		if _, err := verify.DecodeSecret(s); err != nil {
			return "", false, fmt.Errorf("%s: %w (delete it to make a new one)", path, err)
		}
		return s, false, nil
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", false, err
	}
	s := "whsec_" + base64.StdEncoding.EncodeToString(key)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", false, err
	}
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return "", false, err
	}
	return s, true, nil
}

// announceDevSecret names the development secret's file. The secret itself
// is never printed (its parameter is ignored): a terminal's scrollback, a CI
// log or a screen share would keep it; the file (0600) is where it lives.
func announceDevSecret(w io.Writer, _ string, created bool, port string) {
	if created {
		fmt.Fprintf(w, "No WEBHOOK_SIGNING_SECRET set: made a development secret and stored it (0600) in %s\n", devSecretPath)
	} else {
		fmt.Fprintf(w, "No WEBHOOK_SIGNING_SECRET set: using the development secret stored in %s\n", devSecretPath)
	}
	fmt.Fprintf(w, "Send Gemini-like deliveries (from your module's folder) with:\n  %s --url http://127.0.0.1:%s --secret-file %s\n", SimulatorCommand, port, devSecretPath)
}

func sweepLoop(ctx context.Context, s interface{ Sweep(time.Time) (int, error) }, log *slog.Logger) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if n, err := s.Sweep(now); err != nil {
				log.Warn("sweep failed", "error", err.Error())
			} else if n > 0 {
				log.Info("swept expired idempotency records", "count", n)
			}
		}
	}
}
