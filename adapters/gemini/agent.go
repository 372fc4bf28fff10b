package gemini

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"google.golang.org/genai/interactions/models/apierrors"
	ia "google.golang.org/genai/interactions/models/interactions"
	"google.golang.org/genai/interactions/models/operations"
	"google.golang.org/genai/interactions/retry"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

var _ jobs.Agent = (*Client)(nil)

// PendingCalls reads the interaction with the SDK's Interactions.Get and
// returns its trailing function_call steps that have no function_result.
// The interaction itself is kept in the round to continue it without
// reading it again (one get and one create per round).
func (c *Client) PendingCalls(ctx context.Context, name string) (*jobs.PendingRound, error) {
	id, err := interactionID(name)
	if err != nil {
		return nil, fmt.Errorf("gemini interactions.get: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.callTO)
	defer cancel()
	// The SDK escapes the path parameter: the bare id goes in, never
	// "interactions/…" (which would become interactions%2F…).
	resp, err := c.sdk.Interactions.Get(ctx, operations.GetInteractionByIDRequest{ID: id})
	if err != nil {
		return nil, fmt.Errorf("gemini interactions.get %s: %w", name, interactionsError(err))
	}
	it := resp.GetInteraction()
	if it == nil || it.ID == nil || (*it.ID != id && *it.ID != name) {
		return nil, fmt.Errorf("gemini interactions.get %s: the API answered for another interaction", name)
	}
	r := &jobs.PendingRound{Name: name, APIState: string(it.Status), Carry: it}
	if p := it.PreviousInteractionID; p != nil && *p != "" {
		r.Previous = core.NormalizeJobID("interaction", *p)
	}
	if it.Status != ia.InteractionStatusRequiresAction {
		return r, nil
	}
	for _, s := range trailingCalls(it.Steps) {
		args, err := json.Marshal(s.Arguments)
		if err != nil {
			return nil, fmt.Errorf("gemini interactions.get %s: call %s: %w", name, s.ID, err)
		}
		if s.Arguments == nil {
			args = []byte("{}")
		}
		r.Calls = append(r.Calls, jobs.PendingCall{CallID: s.ID, Name: s.Name, Args: args})
	}
	return r, nil
}

// trailingCalls is the last run of function_call steps (thoughts between
// them allowed) whose call has no function_result after it, in order.
func trailingCalls(steps []ia.Step) []ia.FunctionCallStep {
	answered := map[string]bool{}
	var calls []ia.FunctionCallStep
	for _, s := range slices.Backward(steps) {
		switch {
		case s.FunctionResultStep != nil:
			answered[s.FunctionResultStep.CallID] = true
		case s.FunctionCallStep != nil:
			if !answered[s.FunctionCallStep.ID] {
				calls = append(calls, *s.FunctionCallStep)
			}
		case s.ThoughtStep != nil:
		default:
			slices.Reverse(calls)
			return calls
		}
	}
	slices.Reverse(calls)
	return calls
}

// Continue creates the interaction that continues r (Interactions.Create
// with previous_interaction_id and one function_result step per result),
// in the background and stored, with r's model or agent, tools,
// system instruction and webhook_config, so that its next event comes back
// to this receiver. It returns the new interaction's name.
func (c *Client) Continue(ctx context.Context, r *jobs.PendingRound, results []jobs.ToolResult) (string, error) {
	it, ok := r.Carry.(*ia.Interaction)
	if !ok || it == nil {
		return "", fmt.Errorf("gemini interactions.create: %s was not read by this client", r.Name)
	}
	id, err := interactionID(r.Name)
	if err != nil {
		return "", fmt.Errorf("gemini interactions.create: %w", err)
	}
	steps := make([]ia.Step, 0, len(results))
	for _, res := range results {
		step := ia.FunctionResultStep{CallID: res.CallID, Name: ptr(res.Name), Result: ia.NewFunctionResultStepResultUnion(res.Result)}
		if res.IsError {
			step.IsError = ptr(true)
		}
		steps = append(steps, ia.NewStep(step))
	}
	input := ia.NewInteractionsInput(steps)
	var body operations.CreateInteractionRequestBody
	switch {
	case it.Agent != nil:
		req := ia.CreateAgentInteraction{
			Agent: *it.Agent, PreviousInteractionID: ptr(id), Input: &input,
			Background: ptr(true), Store: ptr(true),
			Tools: it.Tools, WebhookConfig: it.WebhookConfig, SystemInstruction: it.SystemInstruction,
		}
		if it.AgentConfig != nil {
			// The same object under the create request's own type.
			if err := convert(it.AgentConfig, &req.AgentConfig); err != nil {
				return "", fmt.Errorf("gemini interactions.create: agent_config of %s: %w", r.Name, err)
			}
		}
		body = operations.NewCreateInteractionRequestBody(req)
	case it.Model != nil:
		body = operations.NewCreateInteractionRequestBody(ia.CreateModelInteraction{
			Model: *it.Model, PreviousInteractionID: ptr(id), Input: &input,
			Background: ptr(true), Store: ptr(true),
			Tools: it.Tools, WebhookConfig: it.WebhookConfig, SystemInstruction: it.SystemInstruction,
			GenerationConfig: it.GenerationConfig,
		})
	default:
		return "", fmt.Errorf("gemini interactions.create: %s names neither a model nor an agent", r.Name)
	}
	ctx, cancel := context.WithTimeout(ctx, c.callTO)
	defer cancel()
	// No retry by the SDK: the API takes no idempotency key, so a create
	// resent after a lost answer would continue the round twice; the
	// delivery's own retry comes back here after reading the ledger.
	resp, err := c.sdk.Interactions.Create(ctx, operations.CreateInteractionRequest{Body: body},
		operations.WithRetries(retry.Config{Strategy: "none"}))
	if err != nil {
		return "", fmt.Errorf("gemini interactions.create (continuing %s): %w", r.Name, interactionsError(err))
	}
	out := resp.GetInteraction()
	if out == nil || out.ID == nil || *out.ID == "" {
		return "", fmt.Errorf("gemini interactions.create (continuing %s): the answer names no interaction", r.Name)
	}
	name := core.NormalizeJobID("interaction", *out.ID)
	if err := core.ValidJobID("interaction", name); err != nil {
		return "", fmt.Errorf("gemini interactions.create (continuing %s): %w", r.Name, err)
	}
	return name, nil
}

// interactionID is the bare id of interactions/<id> (or of a bare id),
// refused unless it is one plain path segment.
func interactionID(name string) (string, error) {
	id := strings.TrimPrefix(core.NormalizeJobID("interaction", name), "interactions/")
	if !plainSegment(id) {
		return "", errors.New("invalid interaction id: want interactions/[A-Za-z0-9_-]+")
	}
	return id, nil
}

// interactionsError marks the Interactions API's 404 as core.ErrNotFound.
func interactionsError(err error) error {
	status := 0
	var ae *apierrors.APIError
	var ge *apierrors.GetInteractionByIDClientError
	var ce *apierrors.CreateInteractionClientError
	switch {
	case errors.As(err, &ae):
		status = ae.StatusCode
	case errors.As(err, &ge) && ge.HTTPMeta.Response != nil:
		status = ge.HTTPMeta.Response.StatusCode
	case errors.As(err, &ce) && ce.HTTPMeta.Response != nil:
		status = ce.HTTPMeta.Response.StatusCode
	}
	if status == http.StatusNotFound {
		return fmt.Errorf("%w: %w", core.ErrNotFound, err)
	}
	return err
}

// convert copies src into dst through their JSON form.
func convert(src, dst any) error {
	b, err := json.Marshal(src)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, dst)
}

func ptr[T any](v T) *T { return &v }
