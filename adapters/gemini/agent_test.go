package gemini_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/genai"
	ia "google.golang.org/genai/interactions/models/interactions"

	"github.com/geminiwebhooks/receiver/adapters/gemini"
	"github.com/geminiwebhooks/receiver/adapters/gemini/geminitest"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

// The agent's get and create go through the SDK's Interactions API to the
// stand-in: the pending calls come back as the model made them, and the
// continuation carries the results and the original's configuration.
func TestAgentRoundTrip(t *testing.T) {
	s := geminitest.New("k")
	defer s.Close()
	s.AddConversation("conv1", geminitest.Conversation{
		Model: "gemini-3-flash-preview", WebhookURIs: []string{"https://example.com/hook"},
		UserMetadata: map[string]any{"ticket": "T-1"},
		Rounds: []geminitest.Round{
			{Calls: []geminitest.Call{{ID: "c1", Name: "get_weather", Args: map[string]any{"city": "Paris"}}, {ID: "c2", Name: "get_time"}}},
			{},
		},
	})
	c := newClient(t, s, "k")
	ctx := context.Background()
	r, err := c.PendingCalls(ctx, "interactions/conv1")
	if err != nil {
		t.Fatal(err)
	}
	if r.APIState != "requires_action" || len(r.Calls) != 2 || r.Previous != "" {
		t.Fatalf("round = %+v", r)
	}
	if r.Calls[0].CallID != "c1" || r.Calls[0].Name != "get_weather" || string(r.Calls[0].Args) != `{"city":"Paris"}` ||
		r.Calls[1].CallID != "c2" || string(r.Calls[1].Args) != `{}` {
		t.Fatalf("calls = %+v", r.Calls)
	}
	results := []jobs.ToolResult{{CallID: "c1", Name: "get_weather", Result: `{"temp_c":21}`}, {CallID: "c2", Name: "get_time", Result: "boom", IsError: true}}
	next, err := c.Continue(ctx, r, results)
	if err != nil {
		t.Fatal(err)
	}
	if next != "interactions/conv1_c1" {
		t.Fatalf("continuation = %q", next)
	}
	got := s.Continuations()
	if len(got) != 1 {
		t.Fatalf("%d creates", len(got))
	}
	want := []geminitest.Result{{CallID: "c1", Name: "get_weather", Result: `{"temp_c":21}`}, {CallID: "c2", Name: "get_time", Result: "boom", IsError: true}}
	cont := got[0]
	if cont.Previous != "conv1" || !cont.Background || !cont.Store || cont.Model != "gemini-3-flash-preview" ||
		!reflect.DeepEqual(cont.Results, want) || !reflect.DeepEqual(cont.WebhookURIs, []string{"https://example.com/hook"}) ||
		cont.UserMetadata["ticket"] != "T-1" || len(cont.Tools) != 2 || cont.Tools[0]["name"] != "get_weather" {
		b, _ := json.Marshal(cont)
		t.Fatalf("continuation sent %s", b)
	}
	// The continuation's round: completed, linked to the first.
	r2, err := c.PendingCalls(ctx, next)
	if err != nil {
		t.Fatal(err)
	}
	if r2.APIState != "completed" || len(r2.Calls) != 0 || r2.Previous != "interactions/conv1" {
		t.Fatalf("round 2 = %+v", r2)
	}
	// An id the SDK would escape, or a missing one.
	if _, err := c.PendingCalls(ctx, "interactions/a/b"); err == nil {
		t.Fatal("PendingCalls(interactions/a/b): no error")
	}
	if _, err := c.PendingCalls(ctx, "interactions/missing"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("PendingCalls(missing) = %v; want ErrNotFound", err)
	}
	// A failed create is an error, sent once (no SDK retry).
	s.FailCreates(1)
	if _, err := c.Continue(ctx, r, results); err == nil {
		t.Fatal("Continue during an outage: no error")
	}
	if n := len(s.Continuations()); n != 1 {
		t.Fatalf("%d creates after a failed one; want 1", n)
	}
}

// StartModelInteraction starts in the background, stored, calling back
// RECEIVER_URL with the user's metadata; without a URL it refuses.
func TestStartModelInteraction(t *testing.T) {
	s := geminitest.New("k")
	defer s.Close()
	sdk, err := genai.NewClient(context.Background(), &genai.ClientConfig{APIKey: "k", Backend: genai.BackendGeminiAPI, HTTPOptions: genai.HTTPOptions{BaseURL: s.URL}})
	if err != nil {
		t.Fatal(err)
	}
	req := ia.CreateModelInteraction{Model: "gemini-3-flash-preview", Input: ptrTo(ia.NewInteractionsInput("weather in Paris?"))}
	t.Setenv("RECEIVER_URL", "")
	if _, err := gemini.StartModelInteraction(context.Background(), sdk, req, gemini.Receiver{}); err == nil || !strings.Contains(err.Error(), "RECEIVER_URL") {
		t.Fatalf("no receiver: %v; want an error naming RECEIVER_URL", err)
	}
	t.Setenv("RECEIVER_URL", "https://hooks.example.com/gemini")
	s.StartNext(geminitest.Conversation{Rounds: []geminitest.Round{{Calls: []geminitest.Call{{ID: "s1", Name: "get_weather"}}}}})
	it, err := gemini.StartModelInteraction(context.Background(), sdk, req, gemini.Receiver{UserMetadata: map[string]any{"ticket": "T-9"}})
	if err != nil {
		t.Fatal(err)
	}
	got := s.Continuations()
	if len(got) != 1 || got[0].Previous != "" || !got[0].Background || !got[0].Store ||
		!reflect.DeepEqual(got[0].WebhookURIs, []string{"https://hooks.example.com/gemini"}) || got[0].UserMetadata["ticket"] != "T-9" {
		t.Fatalf("create sent %+v", got)
	}
	// The started interaction is the scripted one: it waits for get_weather.
	c := newClient(t, s, "k")
	r, err := c.PendingCalls(context.Background(), "interactions/"+*it.ID)
	if err != nil || len(r.Calls) != 1 || r.Calls[0].Name != "get_weather" {
		t.Fatalf("started interaction: %+v, %v", r, err)
	}
}

func ptrTo[T any](v T) *T { return &v }
