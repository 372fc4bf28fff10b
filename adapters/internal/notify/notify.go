// Package notify tells others about jobs once the ledger is updated: a
// forward of the event to another webhook endpoint, re-signed with Standard
// Webhooks under our own secret, and a Slack incoming-webhook message. Each
// Notify is one attempt; core bounds it with a timeout and retries it, and
// records it sent in the job ledger so it is sent once.
package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultClient has no overall timeout of its own: core bounds each attempt.
var defaultTransport = func() http.RoundTripper {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = 10 * time.Second
	return tr
}

// post sends body and fails on anything but 2xx.
func post(ctx context.Context, c *http.Client, target string, h http.Header, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		// *url.Error repeats the URL, which may be a secret (Slack's is).
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("%s: %w", ue.Op, ue.Err)
		}
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(msg)))
	}
	return nil
}
