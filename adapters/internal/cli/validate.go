package cli

import (
	"net/url"
	"strings"

	"github.com/geminiwebhooks/receiver/adapters/internal/env"
	"github.com/geminiwebhooks/receiver/core"
)

// The guide's examples say batch.completed; the API and the SDK call it batch.succeeded.
const batchCompletedAlias = "batch.completed"

// subscribable are the types the genai SDK lists as subscribable. The
// catalogue has two more (*.cancelled) that Gemini sends; they are passed
// through with a warning and the API has the last word.
var subscribable = map[string]bool{
	core.BatchSucceeded: true, core.BatchExpired: true, core.BatchFailed: true,
	core.InteractionRequiresAction: true, core.InteractionCompleted: true,
	core.InteractionFailed: true, core.VideoGenerated: true,
}

// parseEvents splits a comma-separated list, checks each name against the
// catalogue, folds the alias and drops duplicates. The second result names
// types the SDK does not list as subscribable.
func parseEvents(list string) (events, unlisted []string, err error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil, usagef("--events: none given; known: %s", strings.Join(core.EventTypes, ", "))
	}
	seen := map[string]bool{}
	for _, raw := range strings.Split(list, ",") {
		e := strings.TrimSpace(raw)
		if e == "" {
			return nil, nil, usagef("--events %q: empty name in the list", list)
		}
		if !core.KnownEventType(e) {
			return nil, nil, usagef("--events: unknown event type %q; known: %s (and %s, an alias of %s)",
				e, strings.Join(core.EventTypes, ", "), batchCompletedAlias, core.BatchSucceeded)
		}
		if e == batchCompletedAlias {
			e = core.BatchSucceeded
		}
		if seen[e] {
			continue
		}
		seen[e] = true
		events = append(events, e)
		if !subscribable[e] {
			unlisted = append(unlisted, e)
		}
	}
	return events, unlisted, nil
}

// checkURI accepts an absolute https URL; plain http only for a loopback
// host, where it can only reach a local test receiver.
func checkURI(raw string) error {
	if raw == "" {
		return usagef("--uri: required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return usagef("--uri %q: not a URL: %v", raw, err)
	}
	if !u.IsAbs() || u.Host == "" {
		return usagef("--uri %q: must be an absolute https:// URL", raw)
	}
	if u.User != nil {
		// Credentials in the URL would be stored and shown by Gemini.
		return usagef("--uri: must not carry user:password")
	}
	if u.Fragment != "" {
		return usagef("--uri %q: must not have a #fragment", raw)
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return nil
	case "http":
		if env.IsLoopback(u.Hostname()) {
			return nil
		}
		return usagef("--uri %q: http is allowed only for loopback hosts; use https", raw)
	default:
		return usagef("--uri %q: scheme %q; must be https", raw, u.Scheme)
	}
}

// parseState accepts the states a user may set; disabled_due_to_failed_deliveries is Gemini's to set.
func parseState(s string) (string, error) {
	switch s {
	case "enabled", "disabled":
		return s, nil
	}
	return "", usagef("--state %q: want enabled or disabled", s)
}

// Revocation behaviours of rotateSigningSecret, by their CLI names.
const (
	revokeAfter24h    = "after-24h"
	revokeImmediately = "immediately"
)

func parseRevoke(s string) (string, error) {
	switch s {
	case revokeAfter24h:
		return "revoke_previous_secrets_after_h24", nil
	case revokeImmediately:
		return "revoke_previous_secrets_immediately", nil
	}
	return "", usagef("--revoke %q: want after-24h or immediately", s)
}

func checkID(id string) error {
	if strings.TrimSpace(id) == "" {
		return usagef("--id: required")
	}
	if strings.ContainsAny(id, "/?#:") || id == "." || id == ".." {
		return usagef("--id %q: not a webhook id", id)
	}
	return nil
}
