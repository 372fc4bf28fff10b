package geminitest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
)

// Conversation is an interaction whose rounds a test scripts: the first
// interaction answers with Rounds[0], each continuation (a create with
// previous_interaction_id naming the last round) with the next round, and
// a round with no calls completes the conversation.
type Conversation struct {
	Model string `json:"model,omitempty"` // the interaction's model; "" with Agent
	Agent string `json:"agent,omitempty"`
	// Tools are the function declarations the interaction reports, as the
	// API's JSON ({"type": "function", "name": …}); nil: one per tool
	// name the rounds call.
	Tools        []map[string]any `json:"tools,omitempty"`
	WebhookURIs  []string         `json:"webhook_uris,omitempty"`
	UserMetadata map[string]any   `json:"user_metadata,omitempty"`
	Rounds       []Round          `json:"rounds"`
}

// Round is what the model does in one interaction of a conversation.
type Round struct {
	Calls []Call `json:"calls,omitempty"` // function calls waiting for results; none: completed
}

// Call is one function_call step.
type Call struct {
	ID   string         `json:"id"`
	Name string         `json:"name"`
	Args map[string]any `json:"args,omitempty"`
}

// Continuation is what one Interactions.Create sent: the test checks the
// function results, and that the receiver continued in the background,
// stored, with the original's model, tools and webhook_config.
type Continuation struct {
	ID, Previous string // the new interaction, and the one it continues (bare ids)
	Model, Agent string
	Background   bool
	Store        bool
	Tools        []map[string]any
	WebhookURIs  []string
	UserMetadata map[string]any
	Results      []Result
}

// Result is one function_result step of a continuation.
type Result struct {
	CallID, Name, Result string
	IsError              bool
}

// conversation is a scripted conversation and where it stands.
type conversation struct {
	Conversation
	creates int // continuations made (an id suffix)
}

// roundOf is an interaction of a conversation: which, and which round.
type roundOf struct {
	c     *conversation
	round int
	prev  string
}

// AddConversation makes the stand-in answer for interactions/first, the
// first round of c, and take its continuations.
func (s *Server) AddConversation(first string, c Conversation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.Tools == nil {
		for _, r := range c.Rounds {
			for _, call := range r.Calls {
				if !slices.ContainsFunc(c.Tools, func(t map[string]any) bool { return t["name"] == call.Name }) {
					c.Tools = append(c.Tools, map[string]any{"type": "function", "name": call.Name, "description": "a tool", "parameters": map[string]any{"type": "object"}})
				}
			}
		}
	}
	s.rounds[first] = roundOf{c: &conversation{Conversation: c}}
}

// StartNext scripts the rounds of the next interaction created without
// previous_interaction_id (its model, tools and webhook_config are the
// request's); with none scripted, a started interaction completes at once.
func (s *Server) StartNext(c Conversation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.starts = append(s.starts, c)
}

// Continuations returns the creates the stand-in took, in order (a start
// has no Previous).
func (s *Server) Continuations() []Continuation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.conts)
}

// FailCreates makes the next n creates fail with 503, as an outage would,
// before anything is created.
func (s *Server) FailCreates(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failCreates = n
}

// InteractionGets counts the gets of the interaction id (bare).
func (s *Server) InteractionGets(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.interGets[id]
}

// conversationJSON is interaction id of a scripted conversation as the
// API reports it; false for another id.
func (s *Server) conversationJSON(id string) (map[string]any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.interGets[id]++
	r, ok := s.rounds[id]
	if !ok {
		return nil, false
	}
	c := r.c
	out := map[string]any{"id": id, "status": "completed", "tools": c.Tools}
	if c.Agent != "" {
		out["agent"] = c.Agent
	} else {
		out["model"] = c.Model
	}
	if len(c.WebhookURIs) > 0 || c.UserMetadata != nil {
		out["webhook_config"] = map[string]any{"uris": c.WebhookURIs, "user_metadata": c.UserMetadata}
	}
	if r.prev != "" {
		out["previous_interaction_id"] = r.prev
	}
	steps := []any{}
	if r.round < len(c.Rounds) && len(c.Rounds[r.round].Calls) > 0 {
		out["status"] = "requires_action"
		for _, call := range c.Rounds[r.round].Calls {
			args := call.Args
			if args == nil {
				args = map[string]any{}
			}
			steps = append(steps, map[string]any{"type": "function_call", "id": call.ID, "name": call.Name, "arguments": args})
		}
	} else {
		steps = append(steps, map[string]any{"type": "model_output", "content": []any{map[string]any{"type": "text", "text": "done"}}})
	}
	out["steps"] = steps
	return out, true
}

// createInteraction takes a continuation of a scripted conversation, or
// starts one.
func (s *Server) createInteraction(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Previous      string           `json:"previous_interaction_id"`
		Model         string           `json:"model"`
		Agent         string           `json:"agent"`
		Background    bool             `json:"background"`
		Store         bool             `json:"store"`
		Tools         []map[string]any `json:"tools"`
		Input         json.RawMessage  `json:"input"` // a string, content or steps; a continuation's are function_result steps
		WebhookConfig *struct {
			URIs         []string       `json:"uris"`
			UserMetadata map[string]any `json:"user_metadata"`
		} `json:"webhook_config"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 8<<20)).Decode(&body); err != nil {
		interactionErr(w, http.StatusBadRequest, "invalid JSON: "+err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failCreates > 0 {
		s.failCreates--
		interactionErr(w, http.StatusServiceUnavailable, "the stand-in fails this create")
		return
	}
	c := Continuation{Previous: body.Previous, Model: body.Model, Agent: body.Agent, Background: body.Background,
		Store: body.Store, Tools: body.Tools}
	if wc := body.WebhookConfig; wc != nil {
		c.WebhookURIs, c.UserMetadata = wc.URIs, wc.UserMetadata
	}
	if body.Previous == "" {
		// A new interaction: the next scripted start, as the request configures it.
		conv := &conversation{}
		if len(s.starts) > 0 {
			conv.Conversation, s.starts = s.starts[0], s.starts[1:]
		}
		conv.Model, conv.Agent, conv.WebhookURIs, conv.UserMetadata = c.Model, c.Agent, c.WebhookURIs, c.UserMetadata
		if len(c.Tools) > 0 {
			conv.Tools = c.Tools
		}
		c.ID = fmt.Sprintf("started_%d", len(s.conts)+1)
		s.rounds[c.ID] = roundOf{c: conv}
		s.conts = append(s.conts, c)
		writeJSON(w, map[string]any{"id": c.ID, "status": "in_progress"})
		return
	}
	prev, ok := s.rounds[body.Previous]
	if !ok {
		interactionErr(w, http.StatusNotFound, "previous interaction "+body.Previous+" not found")
		return
	}
	var steps []json.RawMessage
	if err := json.Unmarshal(body.Input, &steps); err != nil {
		interactionErr(w, http.StatusBadRequest, "a continuation's input is a list of steps: "+err.Error())
		return
	}
	for _, raw := range steps {
		var step struct {
			Type    string `json:"type"`
			CallID  string `json:"call_id"`
			Name    string `json:"name"`
			Result  any    `json:"result"`
			IsError bool   `json:"is_error"`
		}
		if err := json.Unmarshal(raw, &step); err != nil || step.Type != "function_result" {
			interactionErr(w, http.StatusBadRequest, "want function_result input steps, got "+string(raw))
			return
		}
		res, isStr := step.Result.(string)
		if !isStr {
			interactionErr(w, http.StatusBadRequest, fmt.Sprintf("the stand-in takes results as strings, got %T", step.Result))
			return
		}
		c.Results = append(c.Results, Result{CallID: step.CallID, Name: step.Name, Result: res, IsError: step.IsError})
	}
	prev.c.creates++
	c.ID = fmt.Sprintf("%s_c%d", firstOf(s.rounds, body.Previous), prev.c.creates)
	s.rounds[c.ID] = roundOf{c: prev.c, round: prev.round + 1, prev: body.Previous}
	s.conts = append(s.conts, c)
	writeJSON(w, map[string]any{"id": c.ID, "status": "in_progress"})
}

// firstOf is the first interaction of id's conversation.
func firstOf(rounds map[string]roundOf, id string) string {
	for rounds[id].prev != "" {
		id = rounds[id].prev
	}
	return id
}

// interactionErr answers as the Interactions API does: its error's code is
// a string (the SDK's interactions.Error), not the number of the other
// Gemini APIs.
func interactionErr(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": strings.ToLower(strings.ReplaceAll(http.StatusText(code), " ", "_")), "message": msg}})
}

// ConversationPath scripts a conversation over HTTP (POST, a
// ConversationScript), and ContinuationsPath lists the creates taken (GET,
// Continuations as JSON): the simulator's agent scenario drives a
// stand-in in another process through them.
const (
	ConversationPath  = "/standin/conversation"
	ContinuationsPath = "/standin/continuations"
)

// ConversationScript is the body of a POST to ConversationPath.
type ConversationScript struct {
	ID           string `json:"id"` // the first interaction's id (bare)
	Conversation `json:"conversation"`
}

func (s *Server) scriptConversation(w http.ResponseWriter, r *http.Request) {
	var c ConversationScript
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&c); err != nil || c.ID == "" || len(c.Rounds) == 0 {
		interactionErr(w, http.StatusBadRequest, `want {"id": ID, "conversation": {"model": …, "rounds": [{"calls": […]}, …]}}`)
		return
	}
	s.AddConversation(c.ID, c.Conversation)
	w.WriteHeader(http.StatusNoContent)
}
