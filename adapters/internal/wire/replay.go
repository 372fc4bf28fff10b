package wire

import (
	"context"
	"errors"
	"fmt"

	"github.com/geminiwebhooks/receiver/core"
)

// ReplayRequest is the body of the deployed functions' replay entry
// (GeminiReconcile on Cloud Functions, a direct invocation of the Lambda
// function): the dead letter to run again, by key. Both entries are
// private (Cloud Run IAM, lambda:InvokeFunction), so only an operator's
// credentials reach them.
type ReplayRequest struct {
	Replay string `json:"gemini_webhooks_replay"`
}

// ReplayResult is the entry's answer.
type ReplayResult struct {
	Key     string       `json:"key"`
	Outcome core.Outcome `json:"outcome"` // processed, or duplicate: it had completed, nothing ran
}

// ReplayDeadLetter runs the dead letter key through this app's own
// pipeline and handlers, under the delivery's task claim, and deletes it
// once its delivery completed (tasks.Runner.Replay). core.ErrNoDeadLetter:
// no such key.
func (a *App) ReplayDeadLetter(ctx context.Context, key string) (ReplayResult, error) {
	if a.DeadLetters == nil || a.Runner == nil {
		return ReplayResult{}, errors.New("this store keeps no dead letters")
	}
	all, err := a.DeadLetters.ListDeadLetters(ctx, 0)
	if err != nil {
		return ReplayResult{}, err
	}
	for _, d := range all {
		if d.Key == key {
			o, err := a.Runner.Replay(ctx, d)
			return ReplayResult{Key: key, Outcome: o}, err
		}
	}
	return ReplayResult{}, fmt.Errorf("%w: %q", core.ErrNoDeadLetter, key)
}
