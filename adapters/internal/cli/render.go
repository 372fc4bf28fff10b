package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/genai/interactions/models/webhooks"
)

// webhookView is what get, list and the other commands show. It is built
// field by field from the SDK's type, so new_signing_secret can never reach
// the output, whatever the SDK adds later.
type webhookView struct {
	ID               string          `json:"id"`
	Name             string          `json:"name,omitempty"`
	State            string          `json:"state"`
	URI              string          `json:"uri"`
	SubscribedEvents []string        `json:"subscribed_events"`
	SigningSecrets   []secretSummary `json:"signing_secrets"`
	CreateTime       *time.Time      `json:"create_time,omitempty"`
	UpdateTime       *time.Time      `json:"update_time,omitempty"`
}

// secretSummary is a signing secret as Gemini lists it: truncated, with its expiry.
type secretSummary struct {
	TruncatedSecret string     `json:"truncated_secret"`
	ExpireTime      *time.Time `json:"expire_time,omitempty"`
}

func viewOf(w *webhooks.Webhook) webhookView {
	v := webhookView{
		ID:               deref(w.ID),
		Name:             deref(w.Name),
		URI:              w.URI,
		SubscribedEvents: []string{},
		SigningSecrets:   []secretSummary{},
		CreateTime:       w.CreateTime,
		UpdateTime:       w.UpdateTime,
	}
	if w.State != nil {
		v.State = string(*w.State)
	}
	for _, e := range w.SubscribedEvents {
		v.SubscribedEvents = append(v.SubscribedEvents, string(e))
	}
	for _, s := range w.SigningSecrets {
		v.SigningSecrets = append(v.SigningSecrets, secretSummary{TruncatedSecret: deref(s.TruncatedSecret), ExpireTime: s.ExpireTime})
	}
	return v
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeHuman prints one webhook as an indented block.
func writeHuman(w io.Writer, v webhookView, now time.Time) {
	fmt.Fprintf(w, "webhook %s\n", v.ID)
	row := func(k, val string) { fmt.Fprintf(w, "  %-8s %s\n", k, val) }
	if v.Name != "" {
		row("name", v.Name)
	}
	row("state", orDash(v.State))
	row("uri", orDash(v.URI))
	row("events", orDash(strings.Join(v.SubscribedEvents, ", ")))
	if v.CreateTime != nil {
		row("created", v.CreateTime.UTC().Format(time.RFC3339))
	}
	if v.UpdateTime != nil {
		row("updated", v.UpdateTime.UTC().Format(time.RFC3339))
	}
	if len(v.SigningSecrets) == 0 {
		row("secrets", "-")
	}
	for i, s := range v.SigningSecrets {
		k := ""
		if i == 0 {
			k = "secrets"
		}
		row(k, orDash(s.TruncatedSecret)+"  "+expiry(s.ExpireTime, now))
	}
}

func expiry(t *time.Time, now time.Time) string {
	if t == nil {
		return "no expiry"
	}
	d := t.Sub(now).Round(time.Minute)
	if d > 0 {
		return fmt.Sprintf("expires %s (in %s)", t.UTC().Format(time.RFC3339), hoursMinutes(d))
	}
	return fmt.Sprintf("expired %s (%s ago)", t.UTC().Format(time.RFC3339), hoursMinutes(-d))
}

// hoursMinutes prints 23h59m rather than Duration's 23h59m0s.
func hoursMinutes(d time.Duration) string {
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	if h == 0 {
		return fmt.Sprintf("%dm", m)
	}
	return fmt.Sprintf("%dh%02dm", h, m)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// liveSecrets counts the signing secrets Gemini still honours at now.
func liveSecrets(v webhookView, now time.Time) (n int, lastExpiry time.Time) {
	for _, s := range v.SigningSecrets {
		if s.ExpireTime == nil || s.ExpireTime.After(now) {
			n++
			if s.ExpireTime != nil && s.ExpireTime.After(lastExpiry) {
				lastExpiry = *s.ExpireTime
			}
		}
	}
	return n, lastExpiry
}
