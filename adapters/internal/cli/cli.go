// Package cli is the gemini-webhooks command: it manages Gemini API webhooks
// (the WebhookService), stores each one-time signing secret straight into a
// secret store so it is never printed, logged or pasted by hand, and runs the
// operator's commands (adapters/internal/admin's, the same as a local.Main
// binary's subcommands) with the views that need more cloud SDKs (ops.go).
// scripts/gemini-webhooks is its main, through adapters/admin.Main.
package cli

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/geminiwebhooks/receiver/adapters/internal/admin"
	"github.com/geminiwebhooks/receiver/adapters/internal/env"
	"os/signal"
	"syscall"
)

// Exit codes (adapters/internal/admin's): usage errors are told apart from failures
// so scripts can distinguish "you typed it wrong" (nothing was called) from
// "it broke".
const (
	exitOK      = admin.ExitOK
	exitUsage   = admin.ExitUsage
	exitFailure = admin.ExitFailure
)

// Main runs the command with os.Args and exits with its code.
func Main() {
	// A signal cancels the context instead of killing the process, so a
	// half-written secret file is still cleaned up on the way out.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, env.Getenv)
	stop()
	os.Exit(code)
}

// usageError marks bad input: reported with exit code 2, and always raised
// before any API or secret-store call.
type usageError = admin.UsageError

func usagef(format string, a ...any) error {
	return &usageError{Msg: fmt.Sprintf(format, a...)}
}

// run is the whole program behind main, with its environment injected.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	ops := opsEnv(stdout, stderr, getenv)
	if len(args) == 0 {
		fmt.Fprint(stderr, admin.Usage(ops))
		return exitUsage
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, admin.Usage(ops))
		return exitOK
	}
	name, rest := args[0], args[1:]
	if admin.Handles(ops, name) { // status, jobs, deadletters, tasks: adapters/internal/admin
		return admin.Run(ctx, args, ops)
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "gemini-webhooks: unknown command %q (gemini-webhooks --help lists them)\n", name)
		return exitUsage
	}
	return admin.Report(ops, name, cmd(ctx, &app{stdout: stdout, stderr: stderr, getenv: getenv}, rest))
}

// app is what every command shares.
type app struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

// usageHead and usageTail frame the usage; adapters/internal/admin adds the
// operator's commands between them.
const usageHead = `gemini-webhooks manages Gemini API webhooks and operates the receiver.

Commands:
  create --uri URL --events a,b[,...] [--name N] --secret-out DEST [--append]
  list
  get --id ID
  update --id ID [--uri URL] [--events a,b] [--state enabled|disabled] [--name N]
  delete --id ID
  ping --id ID
  rotate --id ID [--revoke after-24h|immediately] --secret-out DEST [--append]
  finish-rotation --secret-out DEST [--id ID] [--force]

`

const usageTail = `
DEST (where the one-time signing secret goes; it is never printed):
  file:PATH                          written 0600, atomically
  gcp-secret:projects/P/secrets/S    a new Secret Manager version
  aws-secret:NAME                    Secrets Manager (created if absent)

--append stores "new,old" so receivers accept both secrets during the 24 h
overlap of a rotation; finish-rotation keeps only the newest afterwards.
Every command takes --json (machine-readable output), --timeout and
--api-version (default v1beta).

Environment: GEMINI_API_KEY (or GOOGLE_API_KEY), GOOGLE_GEMINI_BASE_URL,
AWS_* for aws-secret:, Application Default Credentials for gcp-secret:
(SECRETMANAGER_EMULATOR_HOST points it at a loopback stand-in).
`
