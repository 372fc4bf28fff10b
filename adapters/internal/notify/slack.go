package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

// Slack posts a one-line summary of the job to an incoming webhook.
// Slack cannot drop a resend, so a crash between sending and recording it
// may post twice; the ledger makes that the only way.
type Slack struct {
	url    string
	client *http.Client
}

// NewSlack posts to the Slack incoming webhook webhookURL with client (nil: the default transport).
func NewSlack(webhookURL string, client *http.Client) (*Slack, error) {
	u, err := url.Parse(webhookURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("SLACK_WEBHOOK_URL: want an http(s) URL")
	}
	if client == nil {
		client = &http.Client{Transport: defaultTransport()}
	}
	return &Slack{url: webhookURL, client: client}, nil
}

func (s *Slack) Name() string { return "slack" }

func (s *Slack) Notify(ctx context.Context, n jobs.Notification) error {
	body, err := json.Marshal(map[string]string{"text": Summary(n.Job, n.Event)})
	if err != nil {
		return err
	}
	h := http.Header{"Content-Type": {"application/json"}}
	if err := post(ctx, s.client, s.url, h, body); err != nil {
		// The URL is a secret: never in errors.
		return fmt.Errorf("slack: %w", err)
	}
	return nil
}

// Post posts text as one message (the reconcile's webhook health alerts).
func (s *Slack) Post(ctx context.Context, text string) error {
	body, err := json.Marshal(map[string]string{"text": text})
	if err != nil {
		return err
	}
	if err := post(ctx, s.client, s.url, http.Header{"Content-Type": {"application/json"}}, body); err != nil {
		return fmt.Errorf("slack: %w", err)
	}
	return nil
}

// Summary is the message: what happened to the job and where its output is.
func Summary(j *jobs.Job, ev *core.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Gemini %s `%s`: %s", j.Kind, j.ID, j.State)
	if ev.Type != "" {
		fmt.Fprintf(&b, " (%s)", ev.Type)
	}
	if j.ErrorMessage != "" {
		fmt.Fprintf(&b, ": %s", j.ErrorMessage)
		if j.ErrorCode != "" {
			fmt.Fprintf(&b, " [%s]", j.ErrorCode)
		}
	}
	if o := j.Output; o != nil {
		fmt.Fprintf(&b, "; landed %d bytes at %s", o.Bytes, o.URI)
		if o.Lines > 0 {
			fmt.Fprintf(&b, " (%d lines: %d succeeded, %d failed)", o.Lines, o.SucceededLines, o.FailedLines)
		}
	} else if j.Landing == jobs.LandingSkipped && j.LandingError != "" {
		fmt.Fprintf(&b, "; not landed: %s", j.LandingError)
	}
	return b.String()
}
