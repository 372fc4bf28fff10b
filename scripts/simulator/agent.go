package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/gemini/geminitest"
	"github.com/geminiwebhooks/receiver/scripts/simulator/gemini"
)

// agent runs the agent scenario: the whole tools loop of a receiver whose
// mux registers the --tools against the stand-in at --standin. The
// stand-in is told a conversation of --rounds rounds, each calling every
// tool once, then the end; the simulator sends interaction.requires_action
// for the first interaction, waits for the receiver's continuation, sends
// the next round's event, and so on, then interaction.completed for the
// last; it sends each round's event a second time under another id (a
// redelivery Gemini may make) and checks that the round is continued once,
// with one function_result per call.
func agent(ctx context.Context, o options, sender *gemini.Sender, metadata map[string]any, stdout io.Writer) error {
	tools := splitList(o.tools)
	if len(tools) == 0 {
		return errors.New("--tools: name at least one tool the receiver registers")
	}
	first := "sim_" + strings.TrimPrefix(gemini.NewID(), "msg_")
	conv := geminitest.Conversation{Model: "gemini-3-flash-preview", UserMetadata: metadata}
	for r := range o.rounds {
		var round geminitest.Round
		for _, t := range tools {
			round.Calls = append(round.Calls, geminitest.Call{ID: fmt.Sprintf("r%d_%s", r+1, t), Name: t, Args: map[string]any{"round": r + 1}})
		}
		conv.Rounds = append(conv.Rounds, round)
	}
	conv.Rounds = append(conv.Rounds, geminitest.Round{})
	if err := postJSON(ctx, strings.TrimSuffix(o.standin, "/")+geminitest.ConversationPath, geminitest.ConversationScript{ID: first, Conversation: conv}); err != nil {
		return fmt.Errorf("--standin: script the conversation: %w", err)
	}
	send := func(eventType, interaction string) error {
		d := gemini.Delivery{ID: gemini.NewID(), EventType: eventType,
			Body: gemini.Marshal(eventType, time.Now(), map[string]any{"id": "interactions/" + interaction})}
		res := sender.Send(ctx, o.url, d)
		fmt.Fprintf(stdout, "%-29s interactions/%-30s got %d %s\n", eventType, interaction, res.Status, res.Outcome)
		if res.Err != nil || res.Status/100 != 2 {
			return fmt.Errorf("%s for %s: %d %s %v", eventType, interaction, res.Status, res.Reason, res.Err)
		}
		return nil
	}
	cur := first
	for r := range o.rounds {
		if err := send("interaction.requires_action", cur); err != nil {
			return err
		}
		if err := send("interaction.requires_action", cur); err != nil { // redelivered under another id
			return err
		}
		next, err := waitContinuation(ctx, o.standin, cur, len(tools), o.timeout*3)
		if err != nil {
			return fmt.Errorf("round %d: %w", r+1, err)
		}
		fmt.Fprintf(stdout, "round %d: continued as interactions/%s with %d function results\n", r+1, next.ID, len(next.Results))
		cur = next.ID
	}
	if err := send("interaction.completed", cur); err != nil {
		return err
	}
	conts, err := continuations(ctx, o.standin)
	if err != nil {
		return err
	}
	n := 0
	for _, c := range conts {
		if strings.HasPrefix(c.ID, first+"_") {
			n++
		}
	}
	if n != o.rounds {
		return fmt.Errorf("the receiver created %d continuations for %d rounds", n, o.rounds)
	}
	fmt.Fprintf(stdout, "ok: %d rounds of %d tools, one continuation each\n", o.rounds, len(tools))
	return nil
}

// waitContinuation waits for the one continuation of interaction and
// checks its results; a second one is an error.
func waitContinuation(ctx context.Context, standin, interaction string, calls int, wait time.Duration) (geminitest.Continuation, error) {
	deadline := time.Now().Add(wait)
	for {
		conts, err := continuations(ctx, standin)
		if err != nil {
			return geminitest.Continuation{}, err
		}
		var found []geminitest.Continuation
		for _, c := range conts {
			if c.Previous == interaction {
				found = append(found, c)
			}
		}
		switch {
		case len(found) > 1:
			return geminitest.Continuation{}, fmt.Errorf("interactions/%s was continued %d times", interaction, len(found))
		case len(found) == 1 && len(found[0].Results) != calls:
			return geminitest.Continuation{}, fmt.Errorf("interactions/%s was continued with %d function results, want %d", interaction, len(found[0].Results), calls)
		case len(found) == 1:
			return found[0], nil
		case time.Now().After(deadline):
			return geminitest.Continuation{}, fmt.Errorf("interactions/%s was not continued within %s (does the receiver register the tools and use the stand-in?)", interaction, wait)
		}
		select {
		case <-ctx.Done():
			return geminitest.Continuation{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func continuations(ctx context.Context, standin string) ([]geminitest.Continuation, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(standin, "/")+geminitest.ContinuationsPath, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("--standin: %w", err)
	}
	defer resp.Body.Close()
	var out []geminitest.Continuation
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("--standin %s: %w", geminitest.ContinuationsPath, err)
	}
	return out, nil
}

// postJSON posts v to url (the stand-in's announce and script endpoints)
// and wants a 2xx.
func postJSON(ctx context.Context, url string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}
