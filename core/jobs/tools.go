package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"strings"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/internal/toolbox"
)

// Agent is the Gemini API as the tools action needs it: it reads an
// interaction's pending function calls and continues the interaction with
// their results. adapters/gemini implements it with the SDK's Interactions
// API; core stays free of it.
type Agent interface {
	// PendingCalls reads the interaction (interactions/…) and returns its
	// trailing function calls that have no result yet.
	PendingCalls(ctx context.Context, name string) (*PendingRound, error)
	// Continue creates the interaction that continues r with one
	// function_result per call (background, stored, with r's model or
	// agent, tools and webhook_config) and returns its name (interactions/…).
	Continue(ctx context.Context, r *PendingRound, results []ToolResult) (string, error)
}

// PendingRound is an interaction waiting for function results.
type PendingRound struct {
	Name     string // interactions/…
	APIState string // the API's status, requires_action while calls are pending
	// Previous is the interaction this one continues (interactions/…), "" for a first one.
	Previous string
	Calls    []PendingCall
	// Carry is what the Agent needs to continue the interaction (its model
	// or agent, tools, webhook_config); the action does not read it.
	Carry any
}

// PendingCall is one function call waiting for its result.
type PendingCall struct {
	CallID string
	Name   string
	Args   json.RawMessage
}

// ToolResult is one function_result sent back to the model.
type ToolResult struct {
	CallID  string
	Name    string
	Result  string
	IsError bool
}

// DefaultMaxRounds bounds the interactions of one tools conversation
// (Config.MaxRounds, INTERACTION_MAX_ROUNDS).
const DefaultMaxRounds = 20

// maxToolResult bounds a tool's result (its text) kept in the ledger and
// sent to the model; a larger one is answered with is_error.
const maxToolResult = 256 << 10

// runTools is the built-in action on interaction.requires_action when the
// mux registered tools (core.Mux.Tool): it reads the interaction's pending
// calls, runs each registered tool once, recording each outcome in the
// job's record as soon as it returns, then continues the interaction once
// and records the continuation; the user's handlers run after it.
//
// Exactly once, as far as the ledger can tell: a call whose outcome is
// recorded is never run again for that (interaction, call id), whatever
// delivery brings the event; a call interrupted before its outcome was
// recorded runs again on the retry. The continuation is created at most
// once per recorded round, with one window: a crash (or a racing instance)
// between the API's answer to the create and the ledger write of its id
// creates a second continuation on the retry. The window is kept to one
// ledger write: the record is read again just before the create, and the
// id is written right after it.
func (p *Actions) runTools(next core.HandlerFunc) core.HandlerFunc {
	return func(ctx context.Context, ev *core.Event) error {
		f := flowOf(ctx)
		box := toolbox.Of[core.ToolFunc](ctx)
		if f == nil || box == nil || ev.Type != core.InteractionRequiresAction || f.job.Kind != "interaction" {
			return next(ctx, ev)
		}
		if p.c.Agent == nil {
			core.AddLineAttrs(ctx, slog.String("tools", "not run: "+p.c.NoBatchesReason))
			return next(ctx, ev)
		}
		if err := p.answerRound(ctx, f, ev, box); err != nil {
			return err
		}
		return next(ctx, ev)
	}
}

// answerRound runs the round's tools and continues the interaction.
func (p *Actions) answerRound(ctx context.Context, f *flow, ev *core.Event, box *toolbox.Box[core.ToolFunc]) error {
	id := f.job.ID
	unlock, err := p.rounds.lock(ctx, id)
	if err != nil {
		return fmt.Errorf("interaction %s: waiting for another delivery of its round: %w", id, err)
	}
	defer unlock()
	// Another delivery of this round may have answered it while this one
	// waited: its outcomes and continuation are in the record now.
	job, err := p.c.Ledger.GetJob(ctx, id)
	if err != nil {
		return fmt.Errorf("job ledger %s: %w", id, err)
	}
	if job != nil {
		f.job = job
	}
	if f.job.Continuation != "" {
		core.AddLineAttrs(ctx, slog.String("tools", "done before"), slog.String("continuation", f.job.Continuation))
		return nil
	}
	if f.job.State.Terminal() {
		core.AddLineAttrs(ctx, slog.String("tools", "not run: the job is "+string(f.job.State)))
		return nil
	}
	round, err := p.c.Agent.PendingCalls(ctx, id)
	if errors.Is(err, core.ErrNotFound) {
		// Nothing to answer with this configuration, now or on a retry; but
		// a verified event names an interaction of the key's project unless
		// the key is the wrong one: kept as a dead letter, to replay once
		// GEMINI_API_KEY (or GOOGLE_GEMINI_BASE_URL) is right.
		core.AddLineAttrs(ctx, slog.String("tools", "not run: the Gemini API does not know the interaction"))
		return fmt.Errorf("%w: interaction %s: the Gemini API does not know it (is GEMINI_API_KEY the key of the project that started it?): %w", core.ErrPermanent, id, err)
	}
	if err != nil {
		return fmt.Errorf("interaction %s: read the pending calls: %w", id, err)
	}
	if len(round.Calls) == 0 {
		core.AddLineAttrs(ctx, slog.String("tools", "none pending (the API reports "+round.APIState+")"))
		return nil
	}
	if err := p.linkRound(ctx, f, round); err != nil {
		return err
	}
	first, n := conversationOf(f.job)
	core.AddLineAttrs(ctx, slog.Int("round", n), slog.String("conversation", first))
	if n >= p.c.MaxRounds {
		return p.stopConversation(ctx, f, ev, n)
	}

	results := make([]ToolResult, 0, len(round.Calls))
	var line []string
	defer func() { core.AddLineAttrs(ctx, slog.String("tools", strings.Join(line, " "))) }()
	for _, c := range round.Calls {
		run, ran, err := p.runCall(ctx, f, ev, box, c, first, n)
		if err != nil {
			line = append(line, c.Name+":"+outcomeWord(err))
			return err
		}
		word := "ok"
		if run.IsError {
			word = "error"
		}
		if !ran {
			word += "(recorded)"
		}
		line = append(line, fmt.Sprintf("%s:%s:%.1fms", c.Name, word, float64(run.Duration.Microseconds())/1000))
		results = append(results, ToolResult{CallID: c.CallID, Name: run.Name, Result: run.Result, IsError: run.IsError})
	}
	return p.continueRound(ctx, f, ev, round, results)
}

// outcomeWord names a failed call's outcome on the event's line.
func outcomeWord(err error) string {
	switch {
	case errors.Is(err, core.ErrRetry):
		return "retry"
	case errors.Is(err, core.ErrHandlerPanic):
		return "panic"
	}
	return "failed"
}

// conversationOf is the job's conversation (the first interaction's name)
// and round.
func conversationOf(j *Job) (string, int) {
	first, n := j.Conversation, j.Round
	if first == "" {
		first = j.ID
	}
	return first, max(n, 1)
}

// linkRound makes sure the job knows its conversation: the receiver links
// each continuation when it creates it, but the continuation's own event
// may arrive before that write, or the conversation may have been started
// by another caller; then the API's previous_interaction_id links it.
func (p *Actions) linkRound(ctx context.Context, f *flow, round *PendingRound) error {
	if f.job.Conversation != "" || round.Previous == "" {
		return nil
	}
	prev, err := p.c.Ledger.GetJob(ctx, round.Previous)
	if err != nil {
		return fmt.Errorf("job ledger %s: %w", round.Previous, err)
	}
	if prev == nil {
		return nil // continued by someone else: this round starts the conversation here
	}
	first, n := conversationOf(prev)
	job, err := p.update(ctx, f.job.ID, func(j *Job) (*Job, error) { return linkJob(j, first, n+1, prev.UserMetadata, p.c.Clock()), nil })
	if err != nil {
		return err
	}
	f.job = job
	return nil
}

// linkJob records that j (nil when new) is round n of the conversation
// that started with first; nil when it knows already.
func linkJob(j *Job, first string, n int, meta map[string]any, now time.Time) *Job {
	if j != nil && j.Conversation != "" {
		return nil
	}
	if j == nil {
		j = &Job{Kind: "interaction", State: JobPending, FirstSeen: now}
	}
	j.Conversation, j.Round, j.UpdatedAt = first, n, now
	if j.UserMetadata == nil && len(meta) > 0 {
		j.UserMetadata = maps.Clone(meta)
	}
	return j
}

// runCall returns the call's recorded outcome, running the tool first when
// none is recorded; ran says it ran now. The error fails the delivery (a
// tool's ErrRetry, a panic, the ledger).
func (p *Actions) runCall(ctx context.Context, f *flow, ev *core.Event, box *toolbox.Box[core.ToolFunc], c PendingCall, first string, n int) (ToolRun, bool, error) {
	if r, ok := f.job.ToolRuns[c.CallID]; ok {
		return r, false, nil
	}
	start := time.Now()
	run := ToolRun{Name: c.Name}
	fn, ok := box.Lookup(c.Name)
	if !ok {
		run.Result, run.IsError = "no tool named "+c.Name, true
		p.c.Logger.WarnContext(ctx, "the model called a tool the mux does not register; answered with is_error",
			"job_id", f.job.ID, "tool", c.Name, "call_id", c.CallID, "tools", strings.Join(box.Names(), ","))
	} else {
		call := &core.ToolCall{
			InteractionID: strings.TrimPrefix(f.job.ID, "interactions/"), CallID: c.CallID, Name: c.Name, Args: c.Args,
			Event: ev, FirstInteractionID: strings.TrimPrefix(first, "interactions/"), Round: n,
		}
		v, err := callTool(ctx, fn, call)
		switch {
		case errors.Is(err, core.ErrRetry) || errors.Is(err, core.ErrHandlerPanic):
			return run, true, fmt.Errorf("tool %s (call %s): %w", c.Name, c.CallID, err)
		case err != nil:
			run.Result, run.IsError = err.Error(), true
		default:
			if run.Result, err = resultText(v); err != nil {
				run.Result, run.IsError = err.Error(), true
			}
		}
	}
	if len(run.Result) > maxToolResult {
		run.Result, run.IsError = fmt.Sprintf("the tool's result is %d bytes, more than the receiver keeps (%d)", len(run.Result), maxToolResult), true
	}
	run.Duration, run.FinishedAt = time.Since(start), p.c.Clock()
	job, err := p.update(ctx, f.job.ID, func(j *Job) (*Job, error) { return recordToolRun(j, c.CallID, run), nil })
	if err != nil {
		return run, true, err
	}
	f.job = job
	// Another instance may have recorded its own run first: that one is sent.
	return job.ToolRuns[c.CallID], true, nil
}

// recordToolRun records run for callID, unless one is recorded already.
func recordToolRun(j *Job, callID string, run ToolRun) *Job {
	if j == nil {
		return nil
	}
	if _, ok := j.ToolRuns[callID]; ok {
		return nil
	}
	if j.ToolRuns == nil {
		j.ToolRuns = make(map[string]ToolRun)
	}
	j.ToolRuns[callID] = run
	j.UpdatedAt = run.FinishedAt
	return j
}

// callTool runs fn, turning a panic into an error wrapping
// core.ErrHandlerPanic.
func callTool(ctx context.Context, fn core.ToolFunc, call *core.ToolCall) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: tool %s: %v\n%s", core.ErrHandlerPanic, call.Name, r, debug.Stack())
		}
	}()
	return fn(ctx, call)
}

// resultText is a tool's result as sent to the model: a string as it is,
// anything else as its JSON text.
func resultText(v any) (string, error) {
	switch r := v.(type) {
	case string:
		return r, nil
	case []byte:
		return string(r), nil
	case json.RawMessage:
		return string(r), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("the tool's result is not JSON: %w", err)
	}
	return string(b), nil
}

// continueRound creates the continuation once and records it, linked to
// the conversation.
func (p *Actions) continueRound(ctx context.Context, f *flow, ev *core.Event, round *PendingRound, results []ToolResult) error {
	id := f.job.ID
	// Read again just before the create: another delivery of this round
	// may have continued it meanwhile.
	if j, err := p.c.Ledger.GetJob(ctx, id); err != nil {
		return fmt.Errorf("job ledger %s: %w", id, err)
	} else if j != nil && j.Continuation != "" {
		f.job = j
		core.AddLineAttrs(ctx, slog.String("continuation", j.Continuation))
		return nil
	}
	cont, err := p.c.Agent.Continue(ctx, round, results)
	if err != nil {
		return fmt.Errorf("interaction %s: continue: %w", id, err)
	}
	cont = core.NormalizeJobID("interaction", cont)
	now := p.c.Clock()
	var other string
	job, err := p.update(ctx, id, func(j *Job) (*Job, error) {
		if j == nil {
			return nil, nil
		}
		if j.Continuation != "" {
			other = j.Continuation
			return nil, nil
		}
		next := j.Clone()
		next.Continuation, next.UpdatedAt = cont, now
		// The round is answered: its job is done, not stuck in requires_action.
		next.moveTo(JobSucceeded, now, now)
		return f.ended(j, next, ev), nil
	})
	if err != nil {
		return fmt.Errorf("interaction %s: continued as %s, not recorded: %w", id, cont, err)
	}
	f.job = job
	core.AddLineAttrs(ctx, slog.String("continuation", cont))
	if other != "" && other != cont {
		p.c.Logger.WarnContext(ctx, "the round was continued twice (a racing delivery created its continuation between this one's read and create)",
			"job_id", id, "continuation", other, "second_continuation", cont)
		return nil
	}
	first, n := conversationOf(job)
	if _, err := p.update(ctx, cont, func(j *Job) (*Job, error) { return linkJob(j, first, n+1, job.UserMetadata, now), nil }); err != nil {
		return fmt.Errorf("interaction %s: link its continuation %s: %w", id, cont, err)
	}
	return nil
}

// stopConversation ends a conversation that reached the round bound: the
// job fails with the reason and nothing is continued.
func (p *Actions) stopConversation(ctx context.Context, f *flow, ev *core.Event, n int) error {
	reason := fmt.Sprintf("the conversation reached INTERACTION_MAX_ROUNDS (%d rounds): not continued", p.c.MaxRounds)
	now := p.c.Clock()
	job, err := p.update(ctx, f.job.ID, func(j *Job) (*Job, error) {
		if j == nil || j.State.Terminal() {
			return nil, nil
		}
		next := j.Clone()
		if next.moveTo(JobFailed, now, now) {
			next.ErrorMessage, next.UpdatedAt = reason, now
		}
		return f.ended(j, next, ev), nil
	})
	if err != nil {
		return err
	}
	f.job = job
	p.c.Logger.ErrorContext(ctx, "tools conversation stopped", "job_id", job.ID, "conversation", job.Conversation, "round", n, "reason", reason)
	core.AddLineAttrs(ctx, slog.String("tools", "stopped: "+reason))
	return nil
}
