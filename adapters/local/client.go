package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/env"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
	"github.com/geminiwebhooks/receiver/core/reconcile"
	"github.com/geminiwebhooks/receiver/core/tasks"
)

// ErrServerDown: no live local server holds the state file (admin.json is
// absent, stale, or names a process that is gone); open the file directly.
var ErrServerDown = errServerDown

// AdminClient reads and replays through a running local server's admin
// listener: while the server runs it holds the state file's lock, so an
// operator's command asks it instead of waiting on the lock. Its reads are
// the ledger's, the dead letters' and the queue's own interfaces, so a
// command treats the server like the file.
type AdminClient struct {
	info adminInfo
	http *http.Client
}

// DialAdmin finds the running local server of cfg's state file (through
// admin.json beside it, written owner-only by the server, with the
// listener's loopback address and a random token). ErrServerDown when none
// runs; it never waits.
func DialAdmin(cfg env.Config) (*AdminClient, error) {
	if cfg.IdempotencyStore != "file" {
		return nil, ErrServerDown
	}
	info, err := runningServer(cfg)
	if err != nil {
		return nil, err
	}
	return &AdminClient{info: info, http: &http.Client{Timeout: 30 * time.Second}}, nil
}

// URL is the admin listener's address.
func (c *AdminClient) URL() string { return c.info.URL }

// PID is the server's process id.
func (c *AdminClient) PID() int { return c.info.PID }

func (c *AdminClient) get(ctx context.Context, method, path string, v any) error {
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
	body, _ := io.ReadAll(io.LimitReader(resp.Body, adminMaxReply))
	switch {
	case resp.StatusCode == http.StatusNotFound && strings.HasPrefix(path, "/deadletters/replay"):
		return core.ErrNoDeadLetter
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("local server: %s: %s", escapeText(resp.Status, 64), escapeText(strings.TrimSpace(string(body)), 1024))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("local server: %w", err)
	}
	return nil
}

var errReadOnly = errors.New("the running local server's state is read-only from here")

// GetJob implements jobs.Ledger.
func (c *AdminClient) GetJob(ctx context.Context, id string) (*jobs.Job, error) {
	var j *jobs.Job
	return j, c.get(ctx, http.MethodGet, "/job?id="+url.QueryEscape(id), &j)
}

// ListJobs implements jobs.Ledger.
func (c *AdminClient) ListJobs(ctx context.Context, limit int) ([]jobs.Job, error) {
	var js []jobs.Job
	return js, c.get(ctx, http.MethodGet, "/jobs?limit="+strconv.Itoa(limit), &js)
}

// UpdateJob implements jobs.Ledger: refused (only the server writes).
func (c *AdminClient) UpdateJob(context.Context, string, func(*jobs.Job) (*jobs.Job, error)) (*jobs.Job, error) {
	return nil, errReadOnly
}

// ListDeadLetters implements core.DeadLetters.
func (c *AdminClient) ListDeadLetters(ctx context.Context, limit int) ([]core.DeadLetter, error) {
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
func (c *AdminClient) PutDeadLetter(context.Context, core.DeadLetter) error { return errReadOnly }

// DeleteDeadLetter implements core.DeadLetters: refused (Replay moves one
// back into the queue).
func (c *AdminClient) DeleteDeadLetter(context.Context, string) error { return errReadOnly }

// Replay moves dead letter key back into the server's queue, where its
// worker runs it now (core.ErrNoDeadLetter: no such key).
func (c *AdminClient) Replay(ctx context.Context, key string) error {
	var v map[string]string
	return c.get(ctx, http.MethodPost, "/deadletters/replay?key="+url.QueryEscape(key), &v)
}

// ListTasks implements tasks.Store.
func (c *AdminClient) ListTasks(ctx context.Context) ([]tasks.Task, error) {
	var ts []tasks.Task
	return ts, c.get(ctx, http.MethodGet, "/tasks", &ts)
}

// PutTask implements tasks.Store: refused.
func (c *AdminClient) PutTask(context.Context, tasks.Task) error { return errReadOnly }

// DeleteTask implements tasks.Store: refused.
func (c *AdminClient) DeleteTask(context.Context, string) error { return errReadOnly }

// LastRun implements reconcile.RunLog.
func (c *AdminClient) LastRun(ctx context.Context) (*reconcile.LastRun, error) {
	var r *reconcile.LastRun
	return r, c.get(ctx, http.MethodGet, "/lastrun", &r)
}

// PutLastRun implements reconcile.RunLog: refused.
func (c *AdminClient) PutLastRun(context.Context, reconcile.LastRun) error { return errReadOnly }

// DeliveriesSince is the server's hourly delivery counts from from on
// (bolt.Store.DeliveriesSince).
func (c *AdminClient) DeliveriesSince(ctx context.Context, from time.Time) (map[core.Outcome]int64, error) {
	var m map[core.Outcome]int64
	return m, c.get(ctx, http.MethodGet, "/deliveries?since="+url.QueryEscape(from.UTC().Format(time.RFC3339Nano)), &m)
}

// Claim implements core.Store: refused (a command claims nothing).
func (c *AdminClient) Claim(context.Context, core.Claim) (core.ClaimResult, error) {
	return 0, errReadOnly
}

// Complete implements core.Store: refused.
func (c *AdminClient) Complete(context.Context, core.Claim, time.Time) error { return errReadOnly }

// Release implements core.Store: refused.
func (c *AdminClient) Release(context.Context, core.Claim) error { return errReadOnly }

var (
	_ jobs.Ledger      = (*AdminClient)(nil)
	_ core.DeadLetters = (*AdminClient)(nil)
	_ core.Store       = (*AdminClient)(nil)
	_ tasks.Store      = (*AdminClient)(nil)
	_ reconcile.RunLog = (*AdminClient)(nil)
)
