package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/geminiwebhooks/receiver/adapters/aws"
	"github.com/geminiwebhooks/receiver/adapters/env"
	"github.com/geminiwebhooks/receiver/adapters/wire"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
	"github.com/geminiwebhooks/receiver/core/tasks"
)

// The operator's commands: status, jobs and deadletters read the store the
// environment names (IDEMPOTENCY_STORE: the local file at STATE_PATH,
// Firestore in GOOGLE_CLOUD_PROJECT, or DynamoDB's DYNAMODB_TABLE), as the
// receiver does.

// stuckAfter is how long a job may wait in requires_action before status
// points at it.
const stuckAfter = time.Hour

// openBackend opens the store of the environment. A file store that is not
// there is reported with where it was looked for (it is never created).
// While the local server runs it holds the file's lock: the backend is then
// the server itself, asked through its admin listener (local.DialAdmin),
// so a command never waits on the lock.
func openBackend(ctx context.Context, cfg env.Config) (*wire.Backend, error) {
	if cfg.IdempotencyStore == "memory" {
		return nil, errors.New("IDEMPOTENCY_STORE=memory keeps nothing to read: set it to file (STATE_PATH) or firestore (GOOGLE_CLOUD_PROJECT)")
	}
	if cfg.IdempotencyStore == "file" {
		c, err := DialServer(cfg)
		if err == nil {
			return &wire.Backend{Store: c, DeadLetters: c, Ledger: c, Tasks: c, Close: func() error { return nil }}, nil
		}
		if !errors.Is(err, ErrServerDown) {
			return nil, err
		}
		if _, err := os.Stat(cfg.StatePath); err != nil {
			return nil, noStateFile(cfg, err)
		}
	}
	// The AWS adapters serve IDEMPOTENCY_STORE=dynamodb (their clients connect lazily).
	return wire.OpenBackendIn(ctx, cfg, (&aws.Clients{}).Cloud())
}

// backend loads the environment and opens its store for one command,
// within timeout; done closes the store and ends the command's context.
func (a *app) backend(ctx context.Context, timeout time.Duration) (_ context.Context, _ env.Config, _ *wire.Backend, done func(), err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	cfg, err := env.Load(a.getenv, env.Local)
	var b *wire.Backend
	if err == nil {
		b, err = openBackend(ctx, cfg)
	}
	if err != nil {
		cancel()
		return nil, cfg, nil, nil, err
	}
	return ctx, cfg, b, func() { b.Close(); cancel() }, nil
}

// noStateFile says where the commands looked (the state file and
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
		how += fmt.Sprintf(" (STATE_PATH=%s is relative to the working directory %s), or run the command from the directory the server runs in", cfg.StatePath, clip(wd, 1024))
	}
	if errors.Is(err, os.ErrNotExist) {
		err = errors.New("no such file")
	}
	return fmt.Errorf("no state file at %s (%v) and no running server's %s; %s; or IDEMPOTENCY_STORE=firestore for the clouds",
		clip(abs(cfg.StatePath), 1024), err, clip(abs(InfoPath(cfg)), 1024), how)
}

// viaServer returns the running local server the backend asks, if it does.
func viaServer(b *wire.Backend) (*ServerClient, bool) {
	c, ok := b.Store.(*ServerClient)
	return c, ok
}

// leading splits off the first argument when it is not an option: the ID
// or KEY of jobs get, deadletters get and replay.
func leading(args []string) (string, []string) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return args[0], args[1:]
	}
	return "", args
}

// age prints how long ago t was: "3m ago"; "-" for the zero time.
func age(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now().Sub(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s ago"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + "h ago"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + "d ago"
}

// clip keeps s on one line, at most n runes, printable.
func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	q := strconv.QuoteToASCII(s)
	s = q[1 : len(q)-1]
	if len(s) > n {
		s = s[:n-1] + "…"
	}
	if s == "" {
		return "-"
	}
	return s
}

func table(w io.Writer, header string, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

// PrintJSON prints v indented, ASCII only: every other character is a \u
// escape (the same value to any JSON reader), so a terminal never gets a
// control or bidi character from the ledger, whose contents came from
// webhooks, or from whatever answered on the admin port.
func PrintJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeASCII(w, b)
}

// PrintJSONLine prints raw JSON compact on one line, ASCII only (as
// PrintJSON): a summary a script reads as the last line of the output.
func PrintJSONLine(w io.Writer, raw json.RawMessage) error {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return err
	}
	return writeASCII(w, b.Bytes())
}

// writeASCII writes JSON b and a newline with every character that is not
// printable ASCII as a \u escape.
func writeASCII(w io.Writer, b []byte) error {
	var out strings.Builder
	for _, r := range string(b) {
		switch {
		case r == utf8.RuneError:
			out.WriteString(`\ufffd`)
		case r < 0x7f:
			out.WriteRune(r) // encoding/json escaped the control characters inside strings
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&out, `\u%04x\u%04x`, r1, r2)
		default:
			fmt.Fprintf(&out, `\u%04x`, r)
		}
	}
	out.WriteString("\n")
	_, err := io.WriteString(w, out.String())
	return err
}

// cmdTasks lists the local server's queue: what waits for a (next) attempt.
func cmdTasks(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 || args[0] != "list" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintf(a.stdout, "usage: %s tasks list [--json]\n", a.Name)
			return ErrHelp
		}
		return usagef("want tasks list")
	}
	f := newFlags(a, "tasks list")
	if err := f.parse(args[1:]); err != nil {
		return err
	}
	ctx, _, b, done, err := a.backend(ctx, f.timeout)
	if err != nil {
		return err
	}
	defer done()
	if b.Tasks == nil {
		return errors.New("this store keeps no queue: the local server's queue is in its state file")
	}
	ts, err := b.Tasks.ListTasks(ctx)
	if err != nil {
		return err
	}
	type taskView struct {
		ID        string    `json:"id"`
		EventType string    `json:"event_type,omitempty"`
		Enqueued  time.Time `json:"enqueued_at,omitzero"`
		Attempts  int       `json:"attempts"`
		NotBefore time.Time `json:"not_before,omitzero"`
		LastError string    `json:"last_error,omitempty"`
	}
	views := make([]taskView, 0, len(ts))
	var rows [][]string
	for _, t := range ts {
		v := taskView{ID: t.ID, Enqueued: t.EnqueuedAt, Attempts: t.Attempts, NotBefore: t.NotBefore, LastError: t.LastError}
		if ev, err := t.Event(); err == nil {
			v.EventType = ev.Type
		}
		views = append(views, v)
		next := "now"
		if t.NotBefore.After(now()) {
			next = until(t.NotBefore)
		}
		rows = append(rows, []string{clip(v.ID, 48), clip(v.EventType, 28), age(v.Enqueued), strconv.Itoa(v.Attempts), next, clip(v.LastError, 60)})
	}
	if f.json {
		return PrintJSON(a.stdout, views)
	}
	if len(views) == 0 {
		fmt.Fprintln(a.stdout, "no queued tasks")
		return nil
	}
	table(a.stdout, "ID\tEVENT\tQUEUED\tATTEMPTS\tNEXT\tLAST ERROR", rows)
	return nil
}

// jobView is a job as status and jobs print it: no zero times.
type jobView struct {
	ID           string         `json:"id"`
	Kind         string         `json:"kind,omitempty"`
	State        jobs.JobState  `json:"state"`
	APIState     string         `json:"api_state,omitempty"`
	LastEvent    string         `json:"last_event,omitempty"`
	FirstSeen    time.Time      `json:"first_seen,omitzero"`
	UpdatedAt    time.Time      `json:"updated_at,omitzero"`
	FinishedAt   time.Time      `json:"finished_at,omitzero"`
	ErrorCode    string         `json:"error_code,omitempty"`
	ErrorMessage string         `json:"error_message,omitempty"`
	Landing      string         `json:"landing,omitempty"`
	LandingError string         `json:"landing_error,omitempty"`
	Output       string         `json:"output,omitempty"`
	Bytes        int64          `json:"bytes,omitempty"`
	UserMetadata map[string]any `json:"user_metadata,omitempty"`
	Deliveries   []string       `json:"deliveries,omitempty"`
	Stuck        bool           `json:"stuck,omitempty"` // requires_action for more than an hour, not continued
	// A tools conversation (conversations.go): ID is its first
	// interaction's, State its last round's.
	Rounds       int         `json:"rounds,omitempty"`
	LastRound    string      `json:"last_round,omitempty"`
	ToolsRun     int         `json:"tools_run,omitempty"`
	ToolsFailed  int         `json:"tools_failed,omitempty"`  // answered to the model with is_error
	RoundDetails []roundView `json:"round_details,omitempty"` // jobs get only
}

func viewJob(j jobs.Job) jobView {
	v := jobView{ID: j.ID, Kind: j.Kind, State: j.State, APIState: j.APIState, LastEvent: j.LastEvent,
		FirstSeen: j.FirstSeen, UpdatedAt: j.UpdatedAt, FinishedAt: j.FinishedAt, ErrorCode: j.ErrorCode,
		ErrorMessage: j.ErrorMessage, Landing: string(j.Landing), LandingError: j.LandingError,
		UserMetadata: j.UserMetadata, Deliveries: j.Deliveries}
	if j.Output != nil {
		v.Output, v.Bytes = j.Output.URI, j.Output.Bytes
	}
	since := j.StateAt
	if since.IsZero() {
		since = j.UpdatedAt
	}
	// A round whose continuation was created is answered, whatever its state says.
	v.Stuck = j.State == jobs.JobRequiresAction && j.Continuation == "" && !since.IsZero() && now().Sub(since) > stuckAfter
	return v
}

// jobRows are the rows of js; with rounds, the ROUNDS and TOOLS columns
// too (jobHeader).
func jobRows(js []jobView, rounds bool) [][]string {
	var rows [][]string
	for _, j := range js {
		state := string(j.State)
		if j.Stuck {
			state += " (stuck)"
		}
		note := j.Output
		switch {
		case j.LandingError != "" && j.Landing == string(jobs.LandingSkipped):
			note = "not landed: " + j.LandingError
		case j.LandingError != "":
			note = "landing failed: " + j.LandingError
		case j.ErrorMessage != "":
			note = j.ErrorCode + " " + j.ErrorMessage
		}
		if !rounds {
			rows = append(rows, []string{clip(j.ID, 60), state, age(j.UpdatedAt), clip(note, 80)})
			continue
		}
		n := "-"
		if j.Rounds > 0 {
			n = strconv.Itoa(j.Rounds)
		}
		rows = append(rows, []string{clip(j.ID, 60), state, n, toolsCell(j), age(j.UpdatedAt), clip(note, 80)})
	}
	return rows
}

func cmdJobs(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "get") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintf(a.stdout, "usage: %s jobs list [--limit N] [--json] | jobs get ID [--json]\n", a.Name)
			return ErrHelp
		}
		return usagef("want jobs list or jobs get ID")
	}
	f := newFlags(a, "jobs "+args[0])
	limit := f.Int("limit", 50, "list: at most this many ledger records, newest first (0: all); a tools conversation's rounds make one row")
	id, rest := leading(args[1:])
	if err := f.parse(rest); err != nil {
		return err
	}
	if args[0] == "get" && id == "" || args[0] == "list" && id != "" {
		return usagef("want jobs list or jobs get ID")
	}
	ctx, _, b, done, err := a.backend(ctx, f.timeout)
	if err != nil {
		return err
	}
	defer done()
	if args[0] == "get" {
		v, err := getConversation(ctx, b.Ledger, id)
		if err != nil {
			return err
		}
		if v == nil {
			return fmt.Errorf("no job %q (jobs list shows the ids)", clip(id, 200))
		}
		if f.json {
			return PrintJSON(a.stdout, v)
		}
		table(a.stdout, jobHeader, jobRows([]jobView{*v}, true))
		if len(v.RoundDetails) > 0 {
			fmt.Fprintln(a.stdout)
			table(a.stdout, "ROUND\tINTERACTION\tSTATE\tTOOL\tCALL ID\tOUTCOME\tDURATION\tCONTINUATION", roundRows(*v))
		}
		return nil
	}
	views, err := listConversations(ctx, b.Ledger, *limit)
	if err != nil {
		return err
	}
	if f.json {
		return PrintJSON(a.stdout, views)
	}
	if len(views) == 0 {
		fmt.Fprintln(a.stdout, "no jobs")
		return nil
	}
	table(a.stdout, jobHeader, jobRows(views, true))
	return nil
}

// jobHeader heads the tables of jobs list and jobs get.
const jobHeader = "ID\tSTATE\tROUNDS\tTOOLS\tUPDATED\tOUTPUT / ERROR"

// deadLetterView shows the body as JSON when it is JSON (not base64).
type deadLetterView struct {
	Key        string          `json:"key"`
	Scheme     string          `json:"scheme,omitempty"`
	EventType  string          `json:"event_type,omitempty"`
	Reason     string          `json:"reason"`
	ReceivedAt time.Time       `json:"received_at,omitzero"`
	Attempts   int             `json:"attempts,omitempty"`
	Body       json.RawMessage `json:"body,omitempty"`
	BodyText   string          `json:"body_text,omitempty"` // a body that is not JSON
}

func viewDeadLetter(d core.DeadLetter) deadLetterView {
	v := deadLetterView{Key: d.Key, Scheme: string(d.Scheme), EventType: d.EventType, Reason: d.Reason, ReceivedAt: d.ReceivedAt, Attempts: d.Attempts}
	if json.Valid(d.Body) {
		v.Body = d.Body
	} else {
		v.BodyText = string(d.Body)
	}
	return v
}

func cmdDeadLetters(ctx context.Context, a *app, args []string) error {
	sub := ""
	if len(args) > 0 {
		sub = args[0]
	}
	switch sub {
	case "list", "get", "replay":
	case "-h", "--help":
		fmt.Fprintf(a.stdout, "usage: %s deadletters list [--json] | get KEY [--json] | replay KEY|--all [--dry-run] [--wait 45s]\n", a.Name)
		return ErrHelp
	default:
		return usagef("want deadletters list, get KEY or replay KEY|--all [--dry-run]")
	}
	f := newFlags(a, "deadletters "+sub)
	all := f.Bool("all", false, "replay: every dead letter")
	dry := f.Bool("dry-run", false, "replay: say what would be replayed, change nothing")
	wait := f.Duration("wait", 45*time.Second, "replay in the clouds: how long to wait for the deployed worker to complete a delivery put back on QUEUE")
	key, rest := leading(args[1:])
	if err := f.parse(rest); err != nil {
		return err
	}
	switch {
	case sub == "list" && key != "", sub == "get" && key == "",
		sub == "replay" && *all == (key != ""):
		return usagef("want deadletters list, get KEY or replay KEY|--all [--dry-run]")
	}
	ctx, cfg, b, done, err := a.backend(ctx, f.timeout)
	if err != nil {
		return err
	}
	defer done()
	list, err := b.DeadLetters.ListDeadLetters(ctx, 0)
	if err != nil {
		return err
	}
	// The dead-letter queue behind QUEUE, when there is one: its messages
	// are dead letters too, keyed sqs-dlq: or pubsub-dlq:MESSAGE_ID.
	var dlq QueueDLQ
	if a.Extras.QueueDLQ != nil && cfg.QueueKind != "" {
		d, closeDLQ, err := a.Extras.QueueDLQ(ctx, cfg)
		if err != nil {
			return err
		}
		defer closeDLQ()
		dlq = d
	}
	var queued []QueuedDead
	if dlq != nil {
		if queued, err = dlq.Peek(ctx); err != nil {
			dlq.Release(ctx, queued)
			return err
		}
		defer func() { dlq.Release(ctx, queued) }() // what was not deleted shows again at once
	}
	for _, q := range queued {
		list = append(list, q.DeadLetter)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ReceivedAt.After(list[j].ReceivedAt) })
	var picked []core.DeadLetter
	for _, d := range list {
		if sub == "list" || *all || d.Key == key {
			picked = append(picked, d)
		}
	}
	if sub != "list" && !*all && len(picked) == 0 {
		return fmt.Errorf("no dead letter %q (deadletters list shows the keys)", clip(key, 200))
	}
	switch sub {
	case "list", "get":
		views := make([]deadLetterView, 0, len(picked))
		for _, d := range picked {
			views = append(views, viewDeadLetter(d))
		}
		if sub == "get" {
			return PrintJSON(a.stdout, views[0])
		}
		if f.json {
			return PrintJSON(a.stdout, views)
		}
		if len(views) == 0 {
			fmt.Fprintln(a.stdout, "no dead letters")
			return nil
		}
		var rows [][]string
		for _, v := range views {
			rows = append(rows, []string{clip(v.Key, 48), clip(v.EventType, 28), age(v.ReceivedAt), clip(v.Reason, 80)})
		}
		table(a.stdout, "KEY\tEVENT\tRECEIVED\tREASON", rows)
		return nil
	}
	if len(picked) == 0 {
		fmt.Fprintln(a.stdout, "no dead letters")
		return nil
	}
	if *dry {
		for _, d := range picked {
			fmt.Fprintf(a.stdout, "would replay %s (%s)\n", clip(d.Key, 200), clip(d.EventType, 40))
		}
		return nil
	}
	var stored []core.DeadLetter
	var fromQueue []QueuedDead
	for _, d := range picked {
		i := slices.IndexFunc(queued, func(q QueuedDead) bool { return q.Key == d.Key })
		if i < 0 {
			stored = append(stored, d)
			continue
		}
		fromQueue = append(fromQueue, queued[i])
	}
	return replayAll(ctx, a, cfg, b, *wait, stored, dlq, fromQueue)
}

// replayAll sends dead letters back through the pipeline, never around
// it: with the local file they go back on its durable queue and run when
// the local server next starts; in the clouds through the deployed code
// (replayInCloud).
func replayAll(ctx context.Context, a *app, cfg env.Config, b *wire.Backend, wait time.Duration, stored []core.DeadLetter, dlq QueueDLQ, fromQueue []QueuedDead) error {
	var errs []error
	if c, ok := viaServer(b); ok {
		for _, d := range stored {
			if err := c.Replay(ctx, d.Key); err != nil {
				errs = append(errs, fmt.Errorf("replay %s: %w", clip(d.Key, 200), err))
				continue
			}
			fmt.Fprintf(a.stdout, "queued %s: the running local server (pid %d) runs it now\n", clip(d.Key, 200), c.PID())
		}
		stored = nil
	}
	if b.Tasks != nil {
		for _, d := range stored {
			if _, err := tasks.ReplayDeadLetter(ctx, b.DeadLetters, b.Tasks, d.Key, now()); err != nil {
				errs = append(errs, fmt.Errorf("replay %s: %w", clip(d.Key, 200), err))
				continue
			}
			fmt.Fprintf(a.stdout, "queued %s: it runs when the local server next starts\n", clip(d.Key, 200))
		}
		stored = nil
	}
	var list []cloudReplay
	for _, d := range stored {
		list = append(list, cloudReplay{key: d.Key, delivery: d, remove: func(ctx context.Context) error { return b.DeadLetters.DeleteDeadLetter(ctx, d.Key) }})
	}
	for _, q := range fromQueue {
		d := q.DeadLetter
		if q.Delivery != "" {
			d.Key = q.Delivery // the delivery id the message carries, as the worker would process it
		}
		list = append(list, cloudReplay{key: q.Key, delivery: d, remove: func(ctx context.Context) error { return dlq.Remove(ctx, q) }})
	}
	if len(list) > 0 {
		errs = append(errs, replayInCloud(ctx, a, cfg, b, wait, list))
	}
	return errors.Join(errs...)
}

// StatusView is status --json.
type StatusView struct {
	Store string `json:"store"`
	Where string `json:"where"`
	// Jobs counts jobs by state, a tools conversation once (its last
	// round's state); Conversations are those, with their rounds and tools.
	Jobs           map[string]int `json:"jobs_by_state"`
	Conversations  int            `json:"tool_conversations,omitempty"`
	Rounds         int            `json:"tool_rounds,omitempty"`
	ToolsRun       int            `json:"tools_run,omitempty"`
	ToolsFailed    int            `json:"tools_failed,omitempty"`
	OldestOpen     time.Time      `json:"oldest_open_job,omitzero"`
	Stuck          []jobView      `json:"stuck_requires_action,omitempty"`
	LandingsFailed []jobView      `json:"landings_failed,omitempty"`
	// LandingsSkipped: not landed by configuration (no API key, no sink), with the reason.
	LandingsSkipped []jobView `json:"landings_skipped,omitempty"`
	DeadLetters     int       `json:"dead_letters"`
	QueuedTasks     *int      `json:"queued_tasks,omitempty"`
	QueueDepth      *int      `json:"queue_depth,omitempty"`             // SQS ApproximateNumberOfMessages of QUEUE
	DLQDepth        *int      `json:"dead_letter_queue_depth,omitempty"` // and of its dead-letter queue (or subscription)
	DLQName         string    `json:"dead_letter_queue,omitempty"`
	DLQNote         string    `json:"dead_letter_queue_note,omitempty"` // how it was found, when not from the configuration
	// Deliveries are the last 24 h by outcome, one entry per source.
	Deliveries    []deliveryCounts   `json:"deliveries_24h,omitempty"`
	LastReconcile *lastReconcileView `json:"last_reconcile,omitempty"`
	Webhooks      []HookStatus       `json:"webhooks,omitempty"`
	WebhooksError string             `json:"webhooks_error,omitempty"` // why they could not be listed
}

// HookStatus is a webhook's state and the soonest expiry of its signing
// secrets (a rotation's previous secret).
type HookStatus struct {
	ID           string    `json:"id"`
	State        string    `json:"state"`
	URI          string    `json:"uri"`
	Secrets      int       `json:"signing_secrets"`
	SecretExpiry time.Time `json:"next_secret_expiry,omitzero"`
}

// webhooksStatus asks the WebhookService (Extras.Webhooks), when an API
// key is configured.
func webhooksStatus(ctx context.Context, a *app, s *StatusView) {
	if a.Extras.Webhooks == nil {
		return
	}
	if a.getenv("GEMINI_API_KEY") == "" && a.getenv("GOOGLE_API_KEY") == "" {
		s.WebhooksError = "GEMINI_API_KEY is unset: the webhooks were not asked"
		return
	}
	hooks, err := a.Extras.Webhooks(ctx, a.getenv)
	if err != nil {
		s.WebhooksError = clip(err.Error(), 200)
		return
	}
	s.Webhooks = hooks
}

// until prints how long until t: "in 5h"; "-" for the zero time.
func until(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := t.Sub(now())
	switch {
	case d <= 0:
		return "expired " + age(t)
	case d < time.Hour:
		return "in " + strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 48*time.Hour:
		return "in " + strconv.Itoa(int(d/time.Hour)) + "h"
	}
	return "in " + strconv.Itoa(int(d/(24*time.Hour))) + "d"
}

func cmdStatus(ctx context.Context, a *app, args []string) error {
	f := newFlags(a, "status")
	from := f.String("deliveries", "auto", "where the last 24 h of deliveries are counted: auto, none, or file,cloudwatch,monitoring")
	if err := f.parse(args); err != nil {
		return err
	}
	if f.NArg() != 0 {
		return usagef("status takes no arguments")
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	cfg, err := env.Load(a.getenv, env.Local)
	if err != nil {
		return err
	}
	sources, err := deliverySources(*from, cfg, a.getenv)
	if err != nil {
		return err
	}
	b, err := openBackend(ctx, cfg)
	if err != nil {
		return err
	}
	defer b.Close()
	s := StatusView{Store: cfg.IdempotencyStore, Jobs: map[string]int{}}
	if cfg.IdempotencyStore == "file" {
		s.Where, _ = filepath.Abs(cfg.StatePath)
		if c, ok := viaServer(b); ok {
			s.Where += fmt.Sprintf(" (through the running local server, pid %d)", c.PID())
		}
	} else if cfg.IdempotencyStore == "dynamodb" {
		s.Where = "dynamodb table " + cfg.DynamoDBTable
	} else {
		s.Where = "projects/" + cfg.GoogleCloudProject + "/databases/" + cfg.FirestoreDatabase
	}
	list, err := b.Ledger.ListJobs(ctx, 0)
	if err != nil {
		return err
	}
	// A tools conversation counts once, in its last round's state.
	for _, g := range groupJobs(list) {
		v := viewConversation(g, false)
		s.Jobs[string(v.State)]++
		if !terminal(v.State) && (s.OldestOpen.IsZero() || v.FirstSeen.Before(s.OldestOpen)) && !v.FirstSeen.IsZero() {
			s.OldestOpen = v.FirstSeen
		}
		if v.Stuck {
			s.Stuck = append(s.Stuck, v)
		}
		if v.Rounds > 0 {
			s.Conversations++
			s.Rounds += v.Rounds
			s.ToolsRun += v.ToolsRun
			s.ToolsFailed += v.ToolsFailed
		}
	}
	for _, j := range list {
		v := viewJob(j)
		switch {
		case j.LandingError != "" && j.Landing == jobs.LandingSkipped:
			s.LandingsSkipped = append(s.LandingsSkipped, v)
		case j.LandingError != "":
			s.LandingsFailed = append(s.LandingsFailed, v)
		}
	}
	dl, err := b.DeadLetters.ListDeadLetters(ctx, 0)
	if err != nil {
		return err
	}
	s.DeadLetters = len(dl)
	if b.Tasks != nil {
		ts, err := b.Tasks.ListTasks(ctx)
		if err != nil {
			return err
		}
		n := len(ts)
		s.QueuedTasks = &n
	}
	s.LastReconcile = lastReconcile(ctx, b)
	s.Deliveries = countDeliveries(ctx, a.Extras, sources, cfg, a.getenv, b)
	webhooksStatus(ctx, a, &s)
	if a.Extras.QueueStatus != nil && cfg.QueueKind != "" {
		if err := a.Extras.QueueStatus(ctx, cfg, &s); err != nil {
			return err
		}
	}
	if f.json {
		return PrintJSON(a.stdout, s)
	}
	var states []string
	for k := range s.Jobs {
		states = append(states, k)
	}
	sort.Strings(states)
	var byState []string
	for _, k := range states {
		byState = append(byState, fmt.Sprintf("%s %d", k, s.Jobs[k]))
	}
	rows := [][]string{
		{"store", s.Store + " " + s.Where},
		{"jobs", orNone(strings.Join(byState, ", "), "none")},
		{"oldest open job", "first seen " + age(s.OldestOpen)},
	}
	if s.Conversations > 0 {
		rows = append(rows, []string{"tools conversations", fmt.Sprintf("%d (%d rounds, %d tools run, %d failed)", s.Conversations, s.Rounds, s.ToolsRun, s.ToolsFailed)})
	}
	rows = append(rows, [][]string{
		{"stuck requires_action (> 1h)", strconv.Itoa(len(s.Stuck))},
		{"landings failed", strconv.Itoa(len(s.LandingsFailed))},
		{"landings skipped", strconv.Itoa(len(s.LandingsSkipped))},
		{"dead letters", map[bool]string{true: "none", false: strconv.Itoa(s.DeadLetters)}[s.DeadLetters == 0]},
	}...)
	rows = append(rows, deliveryRows(s.Deliveries)...)
	rows = append(rows, []string{"last reconcile", s.LastReconcile.String()})
	if s.QueuedTasks != nil {
		rows = append(rows, []string{"queued tasks", strconv.Itoa(*s.QueuedTasks)})
	}
	if s.QueueDepth != nil {
		rows = append(rows, []string{"SQS queue", strconv.Itoa(*s.QueueDepth) + " messages"})
	}
	if s.DLQDepth != nil {
		what := "SQS dead-letter queue"
		if cfg.QueueKind == env.QueuePubSub {
			what = "Pub/Sub dead letters (" + s.DLQName + ")"
		}
		depth := strconv.Itoa(*s.DLQDepth) + " messages"
		if s.DLQNote != "" {
			depth += " (" + s.DLQNote + ")"
		}
		rows = append(rows, []string{what, depth})
	}
	switch {
	case s.WebhooksError != "":
		rows = append(rows, []string{"webhooks", s.WebhooksError})
	case len(s.Webhooks) == 0 && a.Extras.Webhooks != nil:
		rows = append(rows, []string{"webhooks", "none registered"})
	}
	table(a.stdout, "WHAT\tSTATUS", rows)
	if len(s.Webhooks) > 0 {
		fmt.Fprintln(a.stdout)
		var hooks [][]string
		for _, h := range s.Webhooks {
			state := h.State
			if state != "enabled" {
				state += " (!)"
			}
			hooks = append(hooks, []string{clip(h.ID, 40), state, strconv.Itoa(h.Secrets), until(h.SecretExpiry), clip(h.URI, 80)})
		}
		table(a.stdout, "WEBHOOK\tSTATE\tSECRETS\tNEXT EXPIRY\tURI", hooks)
	}
	if len(s.Stuck)+len(s.LandingsFailed)+len(s.LandingsSkipped) > 0 {
		fmt.Fprintln(a.stdout)
		table(a.stdout, "NEEDS ATTENTION\tSTATE\tUPDATED\tOUTPUT / ERROR", jobRows(slices.Concat(s.Stuck, s.LandingsFailed, s.LandingsSkipped), false))
	}
	return nil
}

func orNone(s, none string) string {
	if s == "" {
		return none
	}
	return s
}

func terminal(s jobs.JobState) bool {
	switch s {
	case jobs.JobSucceeded, jobs.JobFailed, jobs.JobCancelled, jobs.JobExpired:
		return true
	}
	return false
}
