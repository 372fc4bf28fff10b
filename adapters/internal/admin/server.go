package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/internal/env"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
	"github.com/geminiwebhooks/receiver/core/reconcile"
	"github.com/geminiwebhooks/receiver/core/tasks"
)

// ErrServerDown: no live local server holds the state file (admin.json is
// absent, stale, or names a process that is gone); open the file directly.
var ErrServerDown = errors.New("the local server is not running")

// Info is admin.json: where the running local server's admin listener is,
// and its token. The server writes it owner-only beside its state file
// (InfoPath) and removes it when it stops.
type Info struct {
	URL   string `json:"url"`
	Token string `json:"token"`
	PID   int    `json:"pid"`
	// Start is the server process's start time (/proc/PID/stat field 22):
	// with PID it tells the server from a process that reused its PID.
	Start string `json:"start,omitempty"`
}

// MaxReply bounds what a command reads from the admin listener.
const MaxReply = 64 << 20

// InfoPath is admin.json's path for cfg's state file.
func InfoPath(cfg env.Config) string {
	return filepath.Join(filepath.Dir(cfg.StatePath), "admin.json")
}

// ProcStart is pid's start time as /proc records it, "" when unknown.
func ProcStart(pid int) string {
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
func serverAlive(info Info) bool {
	if info.PID <= 0 {
		return false
	}
	if info.Start != "" {
		if ProcStart(info.PID) != info.Start {
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

// runningServer reads admin.json: where the running server's admin
// listener is (ErrServerDown when no live server wrote it).
func runningServer(cfg env.Config) (Info, error) {
	b, err := os.ReadFile(InfoPath(cfg))
	if err != nil {
		return Info{}, ErrServerDown
	}
	var info Info
	if err := json.Unmarshal(b, &info); err != nil {
		return Info{}, ErrServerDown
	}
	if !serverAlive(info) {
		return Info{}, ErrServerDown // a stale admin.json: the server crashed
	}
	if u, err := url.Parse(info.URL); err != nil || u.Scheme != "http" || !isLoopback(u.Hostname()) {
		return Info{}, fmt.Errorf("admin.json names %s, not a loopback address", clip(info.URL, 128))
	}
	return info, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ServerClient reads and replays through a running local server's admin
// listener: while the server runs it holds the state file's lock, so an
// operator's command asks it instead of waiting on the lock. Its reads are
// the ledger's, the dead letters' and the queue's own interfaces, so a
// command treats the server like the file.
type ServerClient struct {
	info Info
	http *http.Client
}

// DialServer finds the running local server of cfg's state file (through
// admin.json beside it, written owner-only by the server, with the
// listener's loopback address and a random token). ErrServerDown when none
// runs; it never waits.
func DialServer(cfg env.Config) (*ServerClient, error) {
	if cfg.IdempotencyStore != "file" {
		return nil, ErrServerDown
	}
	info, err := runningServer(cfg)
	if err != nil {
		return nil, err
	}
	return &ServerClient{info: info, http: &http.Client{Timeout: 30 * time.Second}}, nil
}

// URL is the admin listener's address.
func (c *ServerClient) URL() string { return c.info.URL }

// PID is the server's process id.
func (c *ServerClient) PID() int { return c.info.PID }

func (c *ServerClient) get(ctx context.Context, method, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.info.URL+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.info.Token)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("the local server (pid %d) did not answer on %s: %w", c.info.PID, c.info.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, MaxReply))
	switch {
	case resp.StatusCode == http.StatusNotFound && strings.HasPrefix(path, "/deadletters/replay"):
		return core.ErrNoDeadLetter
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("local server: %s: %s", clip(resp.Status, 64), clip(string(body), 1024))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("local server: %w", err)
	}
	return nil
}

var errReadOnly = errors.New("the running local server's state is read-only from here")

// GetJob implements jobs.Ledger.
func (c *ServerClient) GetJob(ctx context.Context, id string) (*jobs.Job, error) {
	var j *jobs.Job
	return j, c.get(ctx, http.MethodGet, "/job?id="+url.QueryEscape(id), &j)
}

// ListJobs implements jobs.Ledger.
func (c *ServerClient) ListJobs(ctx context.Context, limit int) ([]jobs.Job, error) {
	var js []jobs.Job
	return js, c.get(ctx, http.MethodGet, "/jobs?limit="+strconv.Itoa(limit), &js)
}

// UpdateJob implements jobs.Ledger: refused (only the server writes).
func (c *ServerClient) UpdateJob(context.Context, string, func(*jobs.Job) (*jobs.Job, error)) (*jobs.Job, error) {
	return nil, errReadOnly
}

// ListDeadLetters implements core.DeadLetters.
func (c *ServerClient) ListDeadLetters(ctx context.Context, limit int) ([]core.DeadLetter, error) {
	var ds []core.DeadLetter
	if err := c.get(ctx, http.MethodGet, "/deadletters", &ds); err != nil {
		return nil, err
	}
	if limit > 0 && len(ds) > limit {
		ds = ds[:limit]
	}
	return ds, nil
}

// PutDeadLetter implements core.DeadLetters: refused.
func (c *ServerClient) PutDeadLetter(context.Context, core.DeadLetter) error { return errReadOnly }

// DeleteDeadLetter implements core.DeadLetters: refused (Replay moves one
// back into the queue).
func (c *ServerClient) DeleteDeadLetter(context.Context, string) error { return errReadOnly }

// Replay moves dead letter key back into the server's queue, where its
// worker runs it now (core.ErrNoDeadLetter: no such key).
func (c *ServerClient) Replay(ctx context.Context, key string) error {
	var v map[string]string
	return c.get(ctx, http.MethodPost, "/deadletters/replay?key="+url.QueryEscape(key), &v)
}

// Reconcile asks the server to run a reconcile with its own mux, ledger
// and store, and returns its summary.
func (c *ServerClient) Reconcile(ctx context.Context, since time.Duration, dry bool) (json.RawMessage, error) {
	var out json.RawMessage
	q := url.Values{"since": {since.String()}, "dry_run": {strconv.FormatBool(dry)}}
	h := *c.http
	h.Timeout = 0 // a reconcile takes minutes; ctx bounds it
	cc := &ServerClient{info: c.info, http: &h}
	return out, cc.get(ctx, http.MethodPost, "/reconcile?"+q.Encode(), &out)
}

// ListTasks implements tasks.Store.
func (c *ServerClient) ListTasks(ctx context.Context) ([]tasks.Task, error) {
	var ts []tasks.Task
	return ts, c.get(ctx, http.MethodGet, "/tasks", &ts)
}

// PutTask implements tasks.Store: refused.
func (c *ServerClient) PutTask(context.Context, tasks.Task) error { return errReadOnly }

// DeleteTask implements tasks.Store: refused.
func (c *ServerClient) DeleteTask(context.Context, string) error { return errReadOnly }

// LastRun implements reconcile.RunLog.
func (c *ServerClient) LastRun(ctx context.Context) (*reconcile.LastRun, error) {
	var r *reconcile.LastRun
	return r, c.get(ctx, http.MethodGet, "/lastrun", &r)
}

// PutLastRun implements reconcile.RunLog: refused.
func (c *ServerClient) PutLastRun(context.Context, reconcile.LastRun) error { return errReadOnly }

// DeliveriesSince is the server's hourly delivery counts from from on
// (bolt.Store.DeliveriesSince).
func (c *ServerClient) DeliveriesSince(ctx context.Context, from time.Time) (map[core.Outcome]int64, error) {
	var m map[core.Outcome]int64
	return m, c.get(ctx, http.MethodGet, "/deliveries?since="+url.QueryEscape(from.UTC().Format(time.RFC3339Nano)), &m)
}

// Claim implements core.Store: refused (a command claims nothing).
func (c *ServerClient) Claim(context.Context, core.Claim) (core.ClaimResult, error) {
	return 0, errReadOnly
}

// Complete implements core.Store: refused.
func (c *ServerClient) Complete(context.Context, core.Claim, time.Time) error { return errReadOnly }

// Release implements core.Store: refused.
func (c *ServerClient) Release(context.Context, core.Claim) error { return errReadOnly }

var (
	_ jobs.Ledger      = (*ServerClient)(nil)
	_ core.DeadLetters = (*ServerClient)(nil)
	_ core.Store       = (*ServerClient)(nil)
	_ tasks.Store      = (*ServerClient)(nil)
	_ reconcile.RunLog = (*ServerClient)(nil)
)
