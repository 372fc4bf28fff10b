package local

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/geminiwebhooks/receiver/adapters/bolt"
	"github.com/geminiwebhooks/receiver/adapters/env"
	"github.com/geminiwebhooks/receiver/adapters/wire"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/reconcile"
	"github.com/geminiwebhooks/receiver/core/tasks"
	"golang.org/x/net/netutil"
)

// The operator's view of the local server: dead letters (list, replay),
// the job ledger and the queue.
//
//	go run ./functions/local deadletters list
//	go run ./functions/local deadletters replay KEY
//	go run ./functions/local jobs list [-limit N]
//	go run ./functions/local tasks list
//	go run ./functions/local reconcile [--since 48h] [--dry-run]   (reconcile.go)
//
// While the server runs, its state file is locked (bbolt), so the commands
// ask the server: it serves them on a second loopback listener of its own,
// never on the webhook port (which a tunnel may expose), behind a random
// token; both are written, owner-only, to admin.json beside the state file.
// When the server is not running the commands open the state file
// themselves; a replayed event then runs when the server next starts.

const adminUsage = `usage: local [deadletters list | deadletters replay KEY | jobs list [-limit N] | tasks list | reconcile [--since 48h] [--dry-run]]`

// adminInfo is admin.json.
type adminInfo struct {
	URL   string `json:"url"`
	Token string `json:"token"`
	PID   int    `json:"pid"`
	// Start is the server process's start time (/proc/PID/stat field 22):
	// with PID it tells the server from a process that reused its PID.
	Start string `json:"start,omitempty"`
}

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

// procStart is pid's start time as /proc records it, "" when unknown.
func procStart(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	// The command name (field 2) may hold spaces and parentheses: count
	// fields from the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return ""
	}
	return f[19] // field 22 overall
}

// serverAlive reports whether admin.json describes a live server of ours:
// the recorded process exists, belongs to this user, and started when the
// file says (so a crash's stale file, or a reused PID, is not trusted, and
// the token is not handed to whatever now listens on that port).
func serverAlive(info adminInfo) bool {
	if info.PID <= 0 {
		return false
	}
	if info.Start != "" {
		if procStart(info.PID) != info.Start {
			return false
		}
		fi, err := os.Stat("/proc/" + strconv.Itoa(info.PID))
		if err != nil {
			return false
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
			return false
		}
		return true
	}
	// No start time recorded (or no /proc): a signal 0 says whether it exists
	// and is ours to signal.
	return syscall.Kill(info.PID, 0) == nil
}

func adminInfoPath(cfg env.Config) string {
	path := cfg.StatePath
	return filepath.Join(filepath.Dir(path), "admin.json")
}

// serveAdmin starts the admin listener for app and writes admin.json; the
// returned function stops both.
func serveAdmin(app *wire.App, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	tok := make([]byte, 24)
	if _, err := rand.Read(tok); err != nil {
		ln.Close()
		return nil, err
	}
	info := adminInfo{URL: "http://" + ln.Addr().String(), Token: hex.EncodeToString(tok), PID: os.Getpid(), Start: procStart(os.Getpid())}
	ln = netutil.LimitListener(ln, adminMaxConns)
	path := adminInfoPath(app.Config)
	b, _ := json.Marshal(info)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		ln.Close()
		return nil, err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	srv := newAdminServer(adminHandler(app, info.Token, log))
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

// adminCommand runs a subcommand; it returns the exit code.
func adminCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if isHelp(args) {
		return printHelp(stdout)
	}
	cfg, err := env.Load(getenv, env.Local)
	if err != nil {
		fmt.Fprintln(stderr, "local:", err)
		return 2
	}
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	limit := fs.Int("limit", 0, "jobs list: at most this many, newest first (0: all)")
	if len(args) < 2 {
		fmt.Fprintln(stderr, adminUsage)
		return 2
	}
	if err := fs.Parse(args[2:]); err != nil {
		return 2
	}
	cmd := args[0] + " " + args[1]
	var key string
	switch cmd {
	case "deadletters list", "jobs list", "tasks list":
		if fs.NArg() != 0 {
			fmt.Fprintln(stderr, adminUsage)
			return 2
		}
	case "deadletters replay":
		if fs.NArg() != 1 {
			fmt.Fprintln(stderr, adminUsage)
			return 2
		}
		key = fs.Arg(0)
	default:
		fmt.Fprintln(stderr, adminUsage)
		return 2
	}

	out, err := viaServer(ctx, cfg, cmd, key, *limit)
	if errors.Is(err, errServerDown) {
		out, err = viaFile(ctx, cfg, cmd, key, *limit)
	}
	if err != nil {
		fmt.Fprintln(stderr, "local:", err)
		return 1
	}
	return printJSONLines(stdout, out)
}

var errServerDown = errors.New("the local server is not running")

// viaServer asks the running server (admin.json says where).
func viaServer(ctx context.Context, cfg env.Config, cmd, key string, limit int) (json.RawMessage, error) {
	info, err := runningServer(cfg)
	if err != nil {
		return nil, err
	}
	method, path := http.MethodGet, ""
	switch cmd {
	case "deadletters list":
		path = "/deadletters"
	case "deadletters replay":
		method, path = http.MethodPost, "/deadletters/replay?key="+url.QueryEscape(key)
	case "jobs list":
		path = "/jobs?limit=" + strconv.Itoa(limit)
	case "tasks list":
		path = "/tasks"
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, info.URL+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+info.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, errServerDown // a stale admin.json: the server crashed
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, adminMaxReply))
	if resp.StatusCode == http.StatusNotFound && cmd == "deadletters replay" {
		return nil, fmt.Errorf("no dead letter %q (deadletters list shows the keys)", escapeText(key, 256))
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", escapeText(resp.Status, 64), escapeText(strings.TrimSpace(string(body)), 1024))
	}
	return body, nil
}

// runningServer reads admin.json: where the running server's admin
// listener is (errServerDown when no live server wrote it).
func runningServer(cfg env.Config) (adminInfo, error) {
	b, err := os.ReadFile(adminInfoPath(cfg))
	if err != nil {
		return adminInfo{}, errServerDown
	}
	var info adminInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return adminInfo{}, errServerDown
	}
	if !serverAlive(info) {
		return adminInfo{}, errServerDown // a stale admin.json: the server crashed
	}
	if u, err := url.Parse(info.URL); err != nil || u.Scheme != "http" || !isLoopback(u.Hostname()) {
		return adminInfo{}, fmt.Errorf("admin.json names %s, not a loopback address", escapeText(info.URL, 128))
	}
	return info, nil
}

// viaFile opens the state file itself (the server is not running).
func viaFile(ctx context.Context, cfg env.Config, cmd, key string, limit int) (json.RawMessage, error) {
	if cfg.IdempotencyStore != "file" {
		return nil, fmt.Errorf("%w, and IDEMPOTENCY_STORE=%s keeps nothing on disk", errServerDown, cfg.IdempotencyStore)
	}
	path := cfg.StatePath
	if _, err := os.Stat(path); err != nil {
		return nil, noStateFile(cfg, err)
	}
	s, err := bolt.Open(path)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	var v any
	switch cmd {
	case "deadletters list":
		v, err = s.ListDeadLetters(ctx, 0)
	case "deadletters replay":
		var queued *bolt.Tasks
		if queued, err = bolt.NewTasks(s.DB()); err == nil {
			_, err = tasks.ReplayDeadLetter(ctx, s, queued, key, time.Now())
		}
		if errors.Is(err, core.ErrNoDeadLetter) {
			return nil, fmt.Errorf("no dead letter %q (deadletters list shows the keys)", escapeText(key, 256))
		}
		v = map[string]string{"replayed": key, "note": "queued; it runs when the server starts"}
	case "jobs list":
		var l *bolt.Ledger
		if l, err = bolt.NewLedger(s.DB()); err == nil {
			v, err = l.ListJobs(ctx, limit)
		}
	case "tasks list":
		var tasks *bolt.Tasks
		if tasks, err = bolt.NewTasks(s.DB()); err == nil {
			v, err = tasks.ListTasks(ctx)
		}
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// noStateFile says where the admin commands looked (the state file and
// admin.json, as absolute paths, from which working directory) and how to
// point them elsewhere: run from another directory, the relative default
// STATE_PATH names a file that is not there.
func noStateFile(cfg env.Config, err error) error {
	abs := func(p string) string {
		if a, err := filepath.Abs(p); err == nil {
			return a
		}
		return p
	}
	wd, _ := os.Getwd()
	how := "set STATE_PATH to the server's state file"
	if !filepath.IsAbs(cfg.StatePath) {
		how += fmt.Sprintf(" (STATE_PATH=%s is relative to the working directory %s), or run the command from the directory the server runs in", cfg.StatePath, escapeText(wd, 1024))
	}
	if errors.Is(err, os.ErrNotExist) {
		err = errors.New("no such file")
	}
	return fmt.Errorf("no local server state: looked for %s (%v) and for a running server's %s; %s",
		escapeText(abs(cfg.StatePath), 1024), err, escapeText(abs(adminInfoPath(cfg)), 1024), how)
}

// printJSONLines prints an array one element per line (an object as is).
// What is printed is ASCII only: a terminal never gets a control or bidi
// character from the ledger (whose contents came from webhooks) or from
// whatever answered on the admin port.
func printJSONLines(w io.Writer, raw json.RawMessage) int {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		if json.Valid(raw) {
			fmt.Fprintf(w, "%s\n", asciiJSON(raw))
		} else {
			fmt.Fprintf(w, "%s\n", escapeText(strings.TrimSpace(string(raw)), 1<<20))
		}
		return 0
	}
	for _, it := range items {
		fmt.Fprintf(w, "%s\n", asciiJSON(it))
	}
	return 0
}

// asciiJSON rewrites valid JSON with every non-ASCII character as a \u
// escape (the same value to any JSON reader) and compacts it, so that no raw
// control character survives either.
func asciiJSON(raw []byte) string {
	var c bytes.Buffer
	if json.Compact(&c, raw) != nil {
		return escapeText(string(raw), 1<<20)
	}
	var b strings.Builder
	for _, r := range c.String() {
		switch {
		case r == utf8.RuneError:
			b.WriteString(`\ufffd`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04x`, r)
		case r < 0x80:
			b.WriteRune(r)
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&b, `\u%04x\u%04x`, r1, r2)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}

// escapeText makes any text printable ASCII, at most max bytes of input.
func escapeText(s string, max int) string {
	if len(s) > max {
		s = s[:max]
	}
	q := strconv.QuoteToASCII(s)
	return q[1 : len(q)-1]
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
