package cli

import (
	"context"
	"io"
	"time"

	"google.golang.org/api/idtoken"

	"github.com/geminiwebhooks/receiver/adapters/internal/admin"
	"github.com/geminiwebhooks/receiver/adapters/internal/env"
)

// now is the clock of the operator's commands (tests fix it).
var now = time.Now

// opsEnv is how this command runs adapters/internal/admin's commands: under its own
// name, with the views that need more cloud SDKs than a local server links
// (the queues' dead-letter queues, delivery counts from CloudWatch and
// Cloud Monitoring, the WebhookService).
func opsEnv(stdout, stderr io.Writer, getenv func(string) string) admin.Env {
	return admin.Env{Name: "gemini-webhooks", Stdout: stdout, Stderr: stderr, Getenv: getenv, Clock: func() time.Time { return now() },
		Header: usageHead, Footer: usageTail,
		Extras: admin.Extras{
			Deliveries: func(ctx context.Context, source string, cfg env.Config, getenv func(string) string, from, to time.Time) (map[string]int64, string, error) {
				if source == "cloudwatch" {
					return cloudWatchDeliveries(ctx, from, to)
				}
				return monitoringDeliveries(ctx, getenv, cfg.GoogleCloudProject, from, to)
			},
			QueueDLQ:    openQueueDLQ,
			QueueStatus: queueStatus,
			Webhooks:    webhooksStatus,
			IDToken: func(ctx context.Context, audience string) (string, error) {
				ts, err := idtoken.NewTokenSource(ctx, audience)
				if err != nil {
					return "", err
				}
				t, err := ts.Token()
				if err != nil {
					return "", err
				}
				return t.AccessToken, nil
			},
		}}
}

// webhooksStatus lists each webhook's state and the soonest expiry of its
// signing secrets.
func webhooksStatus(ctx context.Context, getenv func(string) string) ([]admin.HookStatus, error) {
	a := &app{stdout: io.Discard, stderr: io.Discard, getenv: getenv}
	f := newFlags(a, "status")
	svc, err := f.client(ctx, a)
	if err != nil {
		return nil, err
	}
	all, err := listAll(ctx, svc, 0)
	if err != nil {
		return nil, err
	}
	var out []admin.HookStatus
	for _, w := range all {
		h := admin.HookStatus{ID: w.ID, State: w.State, URI: w.URI, Secrets: len(w.SigningSecrets)}
		for _, sec := range w.SigningSecrets {
			if sec.ExpireTime != nil && !sec.ExpireTime.IsZero() && (h.SecretExpiry.IsZero() || sec.ExpireTime.Before(h.SecretExpiry)) {
				h.SecretExpiry = *sec.ExpireTime
			}
		}
		out = append(out, h)
	}
	return out, nil
}

// queueStatus adds the depth of QUEUE (SQS) and of its dead-letter queue,
// or the messages of the Pub/Sub dead-letter subscription (counted by
// pulling them, at most 1000, and handing them back: Pub/Sub has no count
// but Cloud Monitoring's backlog metric).
func queueStatus(ctx context.Context, cfg env.Config, s *admin.StatusView) error {
	if cfg.QueueKind == env.QueuePubSub {
		q, err := openPubSubDLQ(ctx, cfg)
		if err != nil {
			return err
		}
		defer q.client.Close()
		ms, err := q.Peek(ctx)
		q.Release(ctx, ms)
		if err != nil {
			return err
		}
		n := len(ms)
		s.DLQDepth, s.DLQName, s.DLQNote = &n, q.sub, q.note
		return nil
	}
	if cfg.QueueKind != env.QueueSQS {
		return nil
	}
	dlq, err := openSQSDLQ(ctx, cfg)
	if err != nil {
		return err
	}
	s.DLQName = dlq.dlqURL
	n, err := dlq.depth(ctx, dlq.queueURL)
	if err != nil {
		return err
	}
	s.QueueDepth = &n
	if dlq.dlqURL != "" {
		m, err := dlq.depth(ctx, dlq.dlqURL)
		if err != nil {
			return err
		}
		s.DLQDepth = &m
	}
	return nil
}
