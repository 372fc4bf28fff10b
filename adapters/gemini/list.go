package gemini

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/genai"
	"google.golang.org/genai/interactions/models/operations"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/reconcile"
)

var (
	_ reconcile.BatchLister   = (*Client)(nil)
	_ reconcile.WebhookLister = (*Client)(nil)
)

// listPageSize is the page size ListBatches asks for.
const listPageSize = 100

// maxPages bounds a listing that never ends (a server that keeps answering
// a next page token).
const maxPages = 10000

// ListBatches calls fn for every batch the API lists (the SDK's
// Batches.List, page after page, each page bounded by the call timeout).
// A batch with a malformed name is skipped: it could not be a ledger key.
func (c *Client) ListBatches(ctx context.Context, fn func(reconcile.Batch) error) error {
	pctx, cancel := context.WithTimeout(ctx, c.callTO)
	page, err := c.sdk.Batches.List(pctx, &genai.ListBatchJobsConfig{PageSize: listPageSize})
	cancel()
	for n := 0; ; n++ {
		if errors.Is(err, genai.ErrPageDone) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("gemini batches.list: %w", apiError(err))
		}
		for _, b := range page.Items {
			if b == nil || core.ValidJobID("batch", b.Name) != nil {
				continue
			}
			if err := fn(reconcile.Batch{Name: b.Name, APIState: string(b.State), State: jobState(b.State), Created: b.CreateTime, Updated: b.UpdateTime}); err != nil {
				return err
			}
		}
		if page.NextPageToken == "" {
			return nil
		}
		if n >= maxPages {
			return fmt.Errorf("gemini batches.list: more than %d pages", maxPages)
		}
		pctx, cancel := context.WithTimeout(ctx, c.callTO)
		page, err = page.Next(pctx)
		cancel()
	}
}

// ListWebhooks lists the project's webhooks through the SDK's
// WebhookService (the one scripts/gemini-webhooks manages them with),
// following next_page_token to the end.
func (c *Client) ListWebhooks(ctx context.Context) ([]reconcile.Webhook, error) {
	var all []reconcile.Webhook
	req := operations.ListWebhooksRequest{}
	for page := 0; ; page++ {
		if page >= 1000 {
			return nil, errors.New("gemini webhooks.list: more than 1000 pages")
		}
		pctx, cancel := context.WithTimeout(ctx, c.callTO)
		res, err := c.sdk.Webhooks.List(pctx, req)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("gemini webhooks.list: %w", apiError(err))
		}
		lr := res.GetWebhookListResponse()
		for _, w := range lr.GetWebhooks() {
			h := reconcile.Webhook{ID: deref(w.ID), Name: deref(w.Name), URI: w.URI}
			if w.State != nil {
				h.State = strings.ToLower(string(*w.State))
			}
			for _, s := range w.SigningSecrets {
				sec := reconcile.Secret{Truncated: deref(s.TruncatedSecret)}
				if s.ExpireTime != nil {
					sec.Expire = *s.ExpireTime
				}
				h.Secrets = append(h.Secrets, sec)
			}
			all = append(all, h)
		}
		next := deref(lr.GetNextPageToken())
		if next == "" {
			return all, nil
		}
		req.PageToken = &next
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
