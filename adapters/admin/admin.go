// Package admin is the operator's command line as a library: Main is the
// whole gemini-webhooks command (create, rotate and manage Gemini webhooks
// with their signing secrets kept in a secret store; status, jobs,
// deadletters and replay against the store your receiver uses). Your module
// runs it as a Go tool, with no code of yours:
//
//	go get -tool github.com/geminiwebhooks/receiver/scripts/gemini-webhooks
//	go tool gemini-webhooks status
//
// Call Main from your own main only to ship the command under another name.
package admin

import "github.com/geminiwebhooks/receiver/adapters/internal/cli"

// Main runs the gemini-webhooks command with os.Args and the process's
// environment, and exits with its code: 0 done, 2 a usage error (nothing was
// called), 1 a failure.
func Main() { cli.Main() }
