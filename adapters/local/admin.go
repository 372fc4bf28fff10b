package local

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/bolt"
	"github.com/geminiwebhooks/receiver/adapters/internal/admin"
	"github.com/geminiwebhooks/receiver/adapters/internal/wire"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/reconcile"
	"github.com/geminiwebhooks/receiver/core/tasks"
	"golang.org/x/net/netutil"
)

// The server side of the operator's commands (adapters/internal/admin: status,
// jobs, deadletters, tasks, run as the binary's subcommands or as the
// gemini-webhooks command). While the server runs, its state file is locked
// (bbolt), so the commands ask the server: it serves them on a second
// loopback listener of its own, never on the webhook port (which a tunnel
// may expose), behind a random token; both are written, owner-only, to
// admin.json beside the state file (admin.Info). When the server is not
// running the commands open the state file themselves; a replayed event
// then runs when the server next starts.

// Bounds of the admin listener: a local peer holding idle connections must
// not exhaust the process's descriptors (the webhook port shares them).
const (
	adminMaxConns = 16
	adminMaxReply = 64 << 20
)

// newAdminServer sets every timeout of the admin listener.
func newAdminServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      time.Minute,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
}

// serveAdmin starts the admin listener for app and writes admin.json; the
// returned function stops both.
func serveAdmin(app *wire.App, log *slog.Logger, ui http.Handler) (stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	tok := make([]byte, 24)
	if _, err := rand.Read(tok); err != nil {
		ln.Close()
		return nil, err
	}
	info := admin.Info{URL: "http://" + ln.Addr().String(), Token: hex.EncodeToString(tok), PID: os.Getpid(), Start: admin.ProcStart(os.Getpid())}
	ln = netutil.LimitListener(ln, adminMaxConns)
	path := admin.InfoPath(app.Config)
	b, _ := json.Marshal(info)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		ln.Close()
		return nil, err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	srv := newAdminServer(withInspector(ui, adminHandler(app, info.Token, log)))
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("admin listener stopped", "error", err.Error())
		}
	}()
	return func() {
		os.Remove(path)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

func adminHandler(app *wire.App, token string, log *slog.Logger) http.Handler {
	dead, _ := app.Store.(core.DeadLetters)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /reconcile", serveReconcile(app, log))
	mux.HandleFunc("GET /deadletters", func(w http.ResponseWriter, r *http.Request) {
		if dead == nil {
			http.Error(w, "this store keeps no dead letters", http.StatusNotImplemented)
			return
		}
		dls, err := dead.ListDeadLetters(r.Context(), 0)
		reply(w, dls, err)
	})
	mux.HandleFunc("POST /deadletters/replay", func(w http.ResponseWriter, r *http.Request) {
		key := r.URL.Query().Get("key")
		err := replay(r.Context(), app, dead, key)
		if errors.Is(err, core.ErrNoDeadLetter) {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		reply(w, map[string]string{"replayed": key}, err)
	})
	mux.HandleFunc("GET /jobs", func(w http.ResponseWriter, r *http.Request) {
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		jobs, err := app.Processing.Ledger.ListJobs(r.Context(), limit)
		reply(w, jobs, err)
	})
	mux.HandleFunc("GET /job", func(w http.ResponseWriter, r *http.Request) {
		job, err := app.Processing.Ledger.GetJob(r.Context(), r.URL.Query().Get("id"))
		reply(w, job, err)
	})
	mux.HandleFunc("GET /lastrun", func(w http.ResponseWriter, r *http.Request) {
		rl, ok := app.Store.(reconcile.RunLog)
		if !ok {
			http.Error(w, "this store keeps no reconcile runs", http.StatusNotImplemented)
			return
		}
		run, err := rl.LastRun(r.Context())
		reply(w, run, err)
	})
	mux.HandleFunc("GET /deliveries", func(w http.ResponseWriter, r *http.Request) {
		fs, ok := app.Store.(*bolt.Store)
		if !ok {
			http.Error(w, "the store is not the local file", http.StatusNotImplemented)
			return
		}
		since, err := time.Parse(time.RFC3339Nano, r.URL.Query().Get("since"))
		if err != nil {
			http.Error(w, "since: "+err.Error(), http.StatusBadRequest)
			return
		}
		m, err := fs.DeliveriesSince(r.Context(), since)
		reply(w, m, err)
	})
	mux.HandleFunc("GET /tasks", func(w http.ResponseWriter, r *http.Request) {
		if app.Processing.Tasks == nil {
			reply(w, []tasks.Task{}, nil)
			return
		}
		ts, err := app.Processing.Tasks.ListTasks(r.Context())
		reply(w, ts, err)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// replay puts a dead letter back into the queue, or, without a local queue
// (memory store), processes it now and forgets it once processed.
func replay(ctx context.Context, app *wire.App, dead core.DeadLetters, key string) error {
	if dead == nil {
		return errors.New("this store keeps no dead letters")
	}
	if w := app.Processing.Local; w != nil {
		return w.Replay(ctx, key)
	}
	dls, err := dead.ListDeadLetters(ctx, 0)
	if err != nil {
		return err
	}
	for _, d := range dls {
		if d.Key != key {
			continue
		}
		ev, err := tasks.Task{ID: d.Key, Scheme: d.Scheme, Body: d.Body}.Event()
		if err != nil {
			return err
		}
		if err := app.Processor.Process(ctx, ev); err != nil {
			return err
		}
		return dead.DeleteDeadLetter(ctx, key)
	}
	return fmt.Errorf("%w: %q", core.ErrNoDeadLetter, key)
}

func reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// adminMain runs the binary's subcommands: the operator's commands of
// adapters/internal/admin (the same as the gemini-webhooks command's) and reconcile,
// which runs the user's mux. -h prints the usage, server mode included.
func adminMain(ctx context.Context, mux *core.Mux, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	name := filepath.Base(os.Args[0])
	e := admin.Env{Name: name, Stdout: stdout, Stderr: stderr, Getenv: getenv,
		Header: fmt.Sprintf(localHelp, name),
		Commands: map[string]admin.Command{"reconcile": {Usage: reconcileUsage,
			Run: func(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
				return reconcileCommand(ctx, name, mux, args, getenv, stdout, stderr)
			}}}}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, admin.Usage(e))
		return admin.ExitOK
	}
	return admin.Run(ctx, args, e)
}
