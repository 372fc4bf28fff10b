// Package gcp is the receiver as Cloud Functions (gen2), GeminiWebhook,
// GeminiWorker and GeminiReconcile, with no handlers of its own: the shortest user of
// adapters/gcf. deploy/gcp/deploy.sh stages it (or a user's own package,
// with --package) under a generated root package, as the Go buildpack needs.
package gcp

import (
	"github.com/geminiwebhooks/receiver/adapters/gcf"
	"github.com/geminiwebhooks/receiver/core"
)

func init() { gcf.Register(core.NewMux()) }
