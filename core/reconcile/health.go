package reconcile

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Webhook is a project webhook as the WebhookService lists it.
type Webhook struct {
	ID, Name, URI string
	State         string // enabled, disabled, disabled_due_to_failed_deliveries
	Secrets       []Secret
}

// Secret is a webhook's signing secret as listed: truncated, with its expiry.
type Secret struct {
	Truncated string
	Expire    time.Time // zero: does not expire
}

// WebhookLister lists the project's webhooks (all pages).
type WebhookLister interface {
	ListWebhooks(ctx context.Context) ([]Webhook, error)
}

// The kinds of Problem.
const (
	ProblemDisabled      = "disabled"       // the webhook sends nothing
	ProblemSecretExpires = "secret_expires" // its newest signing secret expires within 24 h
	ProblemOtherURI      = "other_uri"      // it points at something that is not this receiver
)

// SecretWarning is how close to its expiry a webhook's newest secret is reported.
const SecretWarning = 24 * time.Hour

// Problem is one thing wrong with a webhook, and what to do about it.
type Problem struct {
	Webhook string // its id
	URI     string
	Kind    string // ProblemDisabled, …
	Detail  string
	Action  string
}

// Check lists the project's webhooks and reports, each at ERROR: a webhook
// that is disabled (by hand or after failed deliveries), one whose newest
// signing secret expires within SecretWarning, and, when receiverURLs is
// not empty, one whose URI is none of them.
func Check(ctx context.Context, l WebhookLister, receiverURLs []string, now time.Time, log *slog.Logger) ([]Problem, error) {
	hooks, err := l.ListWebhooks(ctx)
	if err != nil {
		log.ErrorContext(ctx, "webhook health: cannot list the project's webhooks", "source", "reconcile", "error", err.Error())
		return nil, fmt.Errorf("reconcile: list webhooks: %w", err)
	}
	var out []Problem
	for _, h := range hooks {
		out = append(out, Problems(h, receiverURLs, now)...)
	}
	for _, p := range out {
		log.ErrorContext(ctx, "webhook health", "source", "reconcile", "webhook", p.Webhook, "uri", p.URI,
			"problem", p.Kind, "detail", p.Detail, "action", p.Action)
	}
	log.InfoContext(ctx, "webhook health checked", "source", "reconcile", "webhooks", len(hooks), "problems", len(out))
	return out, nil
}

// AdminCommand is the webhook admin CLI as its hints name it: a command
// that works from the folder of any module requiring this one, never a
// path of this repository.
const AdminCommand = "go tool gemini-webhooks"

// Problems is what is wrong with one webhook (nothing: nil).
func Problems(h Webhook, receiverURLs []string, now time.Time) []Problem {
	var out []Problem
	add := func(kind, detail, action string) {
		out = append(out, Problem{Webhook: h.ID, URI: h.URI, Kind: kind, Detail: detail, Action: action})
	}
	switch h.State {
	case "", "enabled", "ENABLED":
	default:
		add(ProblemDisabled, "the webhook is "+strings.ToLower(h.State)+": Gemini sends nothing to it",
			"fix the receiver (its logs say why deliveries failed), then: "+AdminCommand+" update "+h.ID+
				" --state enabled; this reconcile applies what was missed")
	}
	var newest time.Time
	forever := len(h.Secrets) == 0
	for _, s := range h.Secrets {
		if s.Expire.IsZero() {
			forever = true
		} else if s.Expire.After(newest) {
			newest = s.Expire
		}
	}
	if !forever && newest.Before(now.Add(SecretWarning)) {
		when := "expired at " + newest.UTC().Format(time.RFC3339)
		if newest.After(now) {
			when = "expires at " + newest.UTC().Format(time.RFC3339)
		}
		add(ProblemSecretExpires, "its newest signing secret "+when+" and no newer one exists",
			AdminCommand+" rotate "+h.ID+" --revoke after-24h --append --secret-out <where the receiver reads its secrets>")
	}
	if len(receiverURLs) > 0 && !matchesAny(h.URI, receiverURLs) {
		add(ProblemOtherURI, "the webhook's URI is not this receiver ("+strings.Join(receiverURLs, ", ")+")",
			AdminCommand+" update "+h.ID+" --uri <this receiver's URL>, or set RECEIVER_URL to the receiver it names")
	}
	return out
}

// AlertText is one message naming every problem and what to do.
func AlertText(problems []Problem) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Gemini webhooks need attention (%d problem(s)):", len(problems))
	for _, p := range problems {
		fmt.Fprintf(&b, "\n- webhook `%s` (%s): %s. To fix: %s", p.Webhook, p.URI, p.Detail, p.Action)
	}
	return b.String()
}

func matchesAny(uri string, urls []string) bool {
	norm := func(s string) string { return strings.TrimRight(strings.TrimSpace(s), "/") }
	for _, u := range urls {
		if strings.EqualFold(norm(uri), norm(u)) {
			return true
		}
	}
	return false
}
