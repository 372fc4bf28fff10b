// Package admin is the operator's commands over a receiver's state: status,
// jobs, deadletters (list, get, replay) and tasks, and interactions start
// (a try-out of a tools conversation, core.Mux.Tool), with one output style
// (tables for people, --json for scripts). It is the one implementation
// behind both ways to reach them: the subcommands of a user's own binary
// (local.Main) and the installable gemini-webhooks command, which a user's
// module adds as a tool:
//
//	go get -tool github.com/geminiwebhooks/receiver/scripts/gemini-webhooks
//	go tool gemini-webhooks status
//
// The state is the store IDEMPOTENCY_STORE names: the local file at
// STATE_PATH or Firestore. While the local server runs it holds its file's
// lock: the commands then ask the server through its admin listener (a
// loopback port and a random token in admin.json beside the state file,
// owner-only), and never wait on the lock. A replay never runs a user's
// handlers in the command's process: locally it goes back on the server's
// queue; in the clouds back onto QUEUE or to the deployed GeminiReconcile.
//
// What needs more cloud SDKs than a local server links (the queues'
// dead-letter queues, delivery counts from CloudWatch or Cloud Monitoring,
// the Gemini WebhookService) is plugged in through Extras by the
// gemini-webhooks command, so a user's local binary stays as small as it
// was.
package admin

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/env"
)

// Exit codes: usage errors are told apart from failures so scripts can
// distinguish "you typed it wrong" (nothing was called) from "it broke".
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// Command is a subcommand added by the binary (local.Main adds reconcile,
// which runs the user's mux): it gets the arguments after its name and
// returns the exit code.
type Command struct {
	Usage string // its line in the usage, after the binary's name
	Run   func(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int
}

// Env is what Run works with.
type Env struct {
	// Name is the binary as the user ran it (the base of os.Args[0], or
	// "go tool gemini-webhooks"): usage and hints name it.
	Name           string
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	Clock          func() time.Time // nil: time.Now
	Extras         Extras
	Commands       map[string]Command
	// Header starts the usage (what the binary is); Footer ends it.
	Header, Footer string
}

// Commands are the subcommands Run serves itself.
var Commands = []string{"status", "jobs", "deadletters", "tasks", "interactions"}

// Handles reports whether Run serves subcommand name (given env's extras).
func Handles(e Env, name string) bool {
	_, extra := e.Commands[name]
	return slices.Contains(Commands, name) || extra
}

// Usage is the usage text of env's binary.
func Usage(e Env) string {
	var b strings.Builder
	b.WriteString(e.Header)
	fmt.Fprintf(&b, `Operating the receiver (the store IDEMPOTENCY_STORE names: the local file at
STATE_PATH, default .gemini-webhooks/state.db, Firestore in GOOGLE_CLOUD_PROJECT,
or DynamoDB's DYNAMODB_TABLE):
  %[1]s status [--deliveries auto|none|file,cloudwatch,monitoring]
        jobs by state, stuck requires_action, failed landings, dead letters,
        deliveries of the last 24 h by outcome, the last reconcile
  %[1]s jobs list [--limit N] | jobs get ID
  %[1]s deadletters list | get KEY | replay KEY|--all [--dry-run] [--wait 45s]
  %[1]s tasks list
  %[1]s interactions start --model M|--agent A --input TEXT [--tool-decl FILE.json]...
        [--metadata k=v]... [--receiver URL]...
        a try-out of your tools: starts an interaction in the background,
        stored, its events to RECEIVER_URL; prints its id (jobs get ID follows it)
`, e.Name)
	var extra []string
	for name := range e.Commands {
		extra = append(extra, name)
	}
	slices.Sort(extra)
	for _, name := range extra {
		fmt.Fprintf(&b, "  %s %s\n", e.Name, e.Commands[name].Usage)
	}
	b.WriteString(`
Each takes --json (machine-readable output) and --timeout (default 60s).
While the local server runs it holds its state file: these commands then ask
it, through its admin listener (admin.json beside the state file), instead.
A replay never runs your handlers in this process: with the local file it
goes back on the server's queue; in the clouds back onto QUEUE, where the
deployed worker runs it, or, without QUEUE, to GeminiReconcile at
RECONCILE_URL (with RECONCILE_ID_TOKEN, or your gcloud identity token); the
dead letter is deleted once its delivery completed, and nothing runs twice.
`)
	b.WriteString(e.Footer)
	return b.String()
}

// ErrHelp is returned by a command that printed its help (exit 0).
var ErrHelp = errors.New("help shown")

// UsageError marks bad input: reported with exit code 2, and always raised
// before any call.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, a ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, a...)}
}

// app is what every command shares.
type app struct {
	Env
	stdout, stderr io.Writer
	getenv         func(string) string
}

// now is the clock ages are measured with (Env.Clock).
var now = time.Now

// Run runs subcommand args[0] (one Handles reports) and returns the exit
// code; a mistake is one line on stderr (exit 2), a failure too (exit 1).
func Run(ctx context.Context, args []string, e Env) int {
	if e.Clock != nil {
		now = e.Clock
	} else {
		now = time.Now
	}
	if len(args) == 0 {
		fmt.Fprint(e.Stderr, Usage(e))
		return ExitUsage
	}
	name, rest := args[0], args[1:]
	if c, ok := e.Commands[name]; ok {
		return c.Run(ctx, rest, e.Stdout, e.Stderr, e.Getenv)
	}
	cmd := map[string]func(context.Context, *app, []string) error{"status": cmdStatus, "jobs": cmdJobs, "deadletters": cmdDeadLetters, "tasks": cmdTasks, "interactions": cmdInteractions}[name]
	if cmd == nil {
		fmt.Fprintf(e.Stderr, "%s: unknown command %q (%s --help lists them)\n", e.Name, name, e.Name)
		return ExitUsage
	}
	return Report(e, name, cmd(ctx, &app{Env: e, stdout: e.Stdout, stderr: e.Stderr, getenv: e.Getenv}, rest))
}

// Report turns a command's error into its exit code, printing it as one
// line on stderr.
func Report(e Env, name string, err error) int {
	var ue *UsageError
	switch {
	case err == nil, errors.Is(err, ErrHelp):
		return ExitOK
	case errors.As(err, &ue):
		fmt.Fprintf(e.Stderr, "%s %s: %v\n", e.Name, name, err)
		return ExitUsage
	default:
		fmt.Fprintf(e.Stderr, "%s %s: %s\n", e.Name, name, strings.ReplaceAll(err.Error(), "\n", "; "))
		return ExitFailure
	}
}

// flags are the options every command shares.
type flags struct {
	*flag.FlagSet
	json    bool
	timeout time.Duration
	help    io.Writer
	name    string
}

func newFlags(a *app, name string) *flags {
	f := &flags{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), help: a.stdout, name: a.Name}
	f.SetOutput(io.Discard) // parse errors are reported once, by Report
	f.BoolVar(&f.json, "json", false, "print JSON instead of text")
	f.DurationVar(&f.timeout, "timeout", 60*time.Second, "deadline for the whole command")
	return f
}

func (f *flags) parse(args []string) error {
	return ParseFlags(f.FlagSet, args, f.help, f.name, f.timeout)
}

// ParseFlags parses args into fs as every command of both CLIs does: -h
// prints the options to help and returns ErrHelp; a bad flag, an argument
// left over or a timeout that is not positive is a *UsageError. binary
// names the binary in the help.
func ParseFlags(fs *flag.FlagSet, args []string, help io.Writer, binary string, timeout time.Duration) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(help, "usage of %s %s:\n", binary, fs.Name())
		fs.SetOutput(help)
		fs.PrintDefaults()
		return ErrHelp
	}
	if err != nil {
		return usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q (options start with --)", fs.Arg(0))
	}
	if timeout <= 0 {
		return usagef("--timeout must be positive")
	}
	return nil
}

// Extras are the views that need cloud SDKs beyond a local server's: the
// gemini-webhooks command sets them; a nil field leaves its view out.
type Extras struct {
	// Deliveries counts the last 24 h of deliveries by outcome from a
	// cloud source ("cloudwatch", "monitoring"), and says where.
	Deliveries func(ctx context.Context, source string, cfg env.Config, getenv func(string) string, from, to time.Time) (map[string]int64, string, error)
	// QueueDLQ opens the dead-letter queue behind QUEUE (nil: none).
	QueueDLQ func(ctx context.Context, cfg env.Config) (QueueDLQ, func(), error)
	// QueueStatus adds QUEUE's depth and its dead-letter queue's to s.
	QueueStatus func(ctx context.Context, cfg env.Config, s *StatusView) error
	// IDToken is an OIDC identity token for audience from Application
	// Default Credentials (a replay through GeminiReconcile).
	IDToken func(ctx context.Context, audience string) (string, error)
	// Webhooks lists the project's webhooks (the WebhookService).
	Webhooks func(ctx context.Context, getenv func(string) string) ([]HookStatus, error)
}
