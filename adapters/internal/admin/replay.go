package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/internal/aws"
	"github.com/geminiwebhooks/receiver/adapters/internal/env"
	"github.com/geminiwebhooks/receiver/adapters/internal/pubsub"
	"github.com/geminiwebhooks/receiver/adapters/internal/wire"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/tasks"
)

// A replay in the clouds never runs anything in this process: the user's
// handlers live in the deployed code. A dead letter goes back onto the live
// queue (QUEUE), where the deployed worker runs it under its task claim
// (tasks.TaskKey), or, without a queue, to the deployed function's private
// replay entry (RECONCILE_URL: GeminiReconcile), which runs it there. Either
// way the dead letter is deleted only once the claim says its delivery
// completed, and a delivery whose claim is completed already runs nothing.

// replayPoll is how often the task claim is read while a replay runs.
const replayPoll = 250 * time.Millisecond

// recordReader reads an idempotency record (the Firestore store has it).
type recordReader interface {
	Get(ctx context.Context, key string) (*core.Record, error)
}

// completed reports whether the task of delivery id has run to completion.
func completed(ctx context.Context, s core.Store, id string) (bool, error) {
	rr, ok := s.(recordReader)
	if !ok {
		return false, fmt.Errorf("the %T store cannot say whether a delivery completed", s)
	}
	r, err := rr.Get(ctx, tasks.TaskKey(id))
	if err != nil || r == nil {
		return false, err
	}
	return r.State == core.StateCompleted && r.ExpireAt.After(time.Now()), nil
}

// cloudReplay is one dead letter to replay in the clouds: its delivery and
// how to delete it (from the store, or from the queue's dead-letter queue).
type cloudReplay struct {
	key      string // as listed
	delivery core.DeadLetter
	remove   func(context.Context) error
}

// replayInCloud replays each dead letter through the deployed code.
func replayInCloud(ctx context.Context, a *app, cfg env.Config, b *wire.Backend, wait time.Duration, list []cloudReplay) error {
	var errs []error
	var queue core.Queue
	if cfg.QueueKind != "" {
		open := map[string]wire.OpenQueue{env.QueueSQS: (&aws.Clients{}).OpenQueue, env.QueuePubSub: pubsub.Publisher{EmulatorHost: cfg.PubSubEmulatorHost}.Open}
		q, closeQueue, err := open[cfg.QueueKind](ctx, cfg.QueueTarget)
		if err != nil {
			return fmt.Errorf("QUEUE: %w", err)
		}
		if closeQueue != nil {
			defer closeQueue()
		}
		queue = q
	}
	for _, r := range list {
		msg, err := replayOne(ctx, a, cfg, b, queue, wait, r)
		if err != nil {
			errs = append(errs, fmt.Errorf("replay %s: %w", clip(r.key, 200), err))
			continue
		}
		fmt.Fprintf(a.stdout, "%s: %s\n", clip(r.key, 200), msg)
	}
	return errors.Join(errs...)
}

func replayOne(ctx context.Context, a *app, cfg env.Config, b *wire.Backend, queue core.Queue, wait time.Duration, r cloudReplay) (string, error) {
	id := r.delivery.Key
	ev, err := tasks.Task{ID: id, Scheme: r.delivery.Scheme, Body: r.delivery.Body}.Event()
	if err != nil {
		return "", fmt.Errorf("it can never be processed (%w); deadletters get KEY shows its body", err)
	}
	done, err := completed(ctx, b.Store, id)
	if err != nil {
		return "", err
	}
	if done {
		if err := r.remove(ctx); err != nil {
			return "", err
		}
		return "its delivery had completed already: nothing run; dead letter deleted", nil
	}
	if queue == nil {
		adm, err := env.LoadAdmin(a.getenv)
		if err != nil {
			return "", err
		}
		url := adm.ReconcileURL
		if url == "" {
			return "", errors.New("QUEUE and RECONCILE_URL are unset: set QUEUE to the deployment's queue (the dead letter goes back onto it) or RECONCILE_URL to GeminiReconcile's URL (it runs there); this command never runs your handlers itself")
		}
		res, err := replayThroughFunction(ctx, a, url, id)
		if err != nil {
			return "", err
		}
		if r.key != id { // a queue's dead letter (not reached without QUEUE)
			if err := r.remove(ctx); err != nil {
				return "", err
			}
		}
		if res.Outcome == core.OutcomeDuplicate {
			return "its delivery had completed already: nothing run; dead letter deleted", nil
		}
		return "replayed by the deployed function (" + clip(url, 120) + "); dead letter deleted", nil
	}
	// The worker's dead letter of this copy is stamped with its enqueue
	// time, by this process's clock (the message's enqueued_at).
	sent := time.Now().Truncate(time.Millisecond)
	if err := queue.Enqueue(ctx, ev); err != nil {
		return "", err
	}
	deadline := time.Now().Add(wait)
	for {
		if done, err = completed(ctx, b.Store, id); err != nil {
			return "", err
		}
		if done {
			if err := r.remove(ctx); err != nil {
				return "", err
			}
			return "back on " + cfg.Queue + ", run by the deployed worker; dead letter deleted", nil
		}
		if reason, err := failedAgain(ctx, b, id, sent, r.delivery.ReceivedAt); err != nil || reason != "" {
			if err == nil {
				err = fmt.Errorf("the deployed worker ran it and it failed again: %s", clip(reason, 300))
				if r.key != id { // the store's dead letter of the delivery now stands for it
					err = errors.Join(err, r.remove(ctx))
				}
			}
			return "", err
		}
		if time.Now().After(deadline) {
			return "back on " + cfg.Queue + "; not completed within " + wait.String() + ": the dead letter stays until it has (replay it again then to delete it; nothing runs twice)", nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("back on %s, completion not seen: %w", cfg.Queue, ctx.Err())
		case <-time.After(replayPoll):
		}
	}
}

// failedAgain returns the reason of a dead letter of delivery id that the
// worker kept since sent ("" if none); before is the one replayed.
func failedAgain(ctx context.Context, b *wire.Backend, id string, sent, before time.Time) (string, error) {
	dls, err := b.DeadLetters.ListDeadLetters(ctx, 0)
	if err != nil {
		return "", err
	}
	for _, d := range dls {
		if d.Key == id && !d.ReceivedAt.Before(sent) && !d.ReceivedAt.Equal(before) {
			return d.Reason, nil
		}
	}
	return "", nil
}

// replayThroughFunction asks GeminiReconcile (private: Cloud Run checks the
// caller's identity token) to replay delivery id.
func replayThroughFunction(ctx context.Context, a *app, url, id string) (wire.ReplayResult, error) {
	tok, err := identityToken(ctx, a, url)
	if err != nil {
		return wire.ReplayResult{}, err
	}
	body, _ := json.Marshal(wire.ReplayRequest{Replay: id})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return wire.ReplayResult{}, fmt.Errorf("RECONCILE_URL: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return wire.ReplayResult{}, err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return wire.ReplayResult{}, fmt.Errorf("%s answered %s: %s", clip(url, 120), resp.Status, clip(string(out), 300))
	}
	var res wire.ReplayResult
	if err := json.Unmarshal(out, &res); err != nil {
		return res, fmt.Errorf("%s answered %q: %w", clip(url, 120), clip(string(out), 200), err)
	}
	return res, nil
}

// identityToken is the caller's OIDC token for url: RECONCILE_ID_TOKEN when
// set, else Extras.IDToken's (Application Default Credentials of a service
// account), else gcloud's (a person's login).
func identityToken(ctx context.Context, a *app, url string) (string, error) {
	adm, err := env.LoadAdmin(a.getenv)
	if err != nil {
		return "", err
	}
	if t := adm.ReconcileIDToken; t != "" {
		return t, nil
	}
	if a.Extras.IDToken != nil {
		if t, err := a.Extras.IDToken(ctx, url); err == nil {
			return t, nil
		}
	}
	out, err := exec.CommandContext(ctx, "gcloud", "auth", "print-identity-token").Output()
	if err != nil {
		return "", fmt.Errorf("no identity token for %s: set RECONCILE_ID_TOKEN=$(gcloud auth print-identity-token), or use credentials of a service account (%v)", clip(url, 120), err)
	}
	return strings.TrimSpace(string(out)), nil
}
