package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/geminiwebhooks/receiver/core/internal/toolbox"
)

// ToolFunc is a user's function that the model may call during an
// interaction (a "function" tool declared with the same name when the
// interaction was created). Its result goes back to the model: a string as
// it is, anything else as its JSON text. An error is reported to the model
// as the call's result with is_error, so the model can recover, unless it
// wraps ErrRetry: then the delivery fails and is retried later. A panic
// fails the delivery too.
//
// A tool runs once per (InteractionID, CallID) as far as the receiver can
// tell: its result is recorded in the job ledger as soon as it returns, and
// a redelivery, a reconcile or another instance reuses it. Only a tool
// interrupted before its result was recorded (a crash, a timeout) runs
// again, with the same CallID: a tool with side effects outside uses CallID
// as its idempotency key.
type ToolFunc func(ctx context.Context, call *ToolCall) (any, error)

// ToolCall is one function call the model made.
type ToolCall struct {
	// InteractionID is the interaction that made the call, as the
	// Interactions API names it (no "interactions/" prefix).
	InteractionID string
	// CallID is the call's id (the function_call step's id): the
	// idempotency key of the call.
	CallID string
	// Name is the tool's name, as registered with Mux.Tool.
	Name string
	// Args is the call's arguments, a JSON object.
	Args json.RawMessage
	// Event is the interaction.requires_action event that brought the call.
	Event *Event
	// FirstInteractionID is the id of the conversation's first interaction
	// (no "interactions/" prefix): the same as InteractionID in the first
	// round, the one the conversation started with in the later ones.
	FirstInteractionID string
	// Round is the conversation's round this call belongs to, from 1.
	Round int
}

// ErrRetry, wrapped in a tool's error, fails the delivery so that it is
// retried later instead of sending the error to the model: for a passing
// outage of what the tool depends on. The tools of the round whose results
// are recorded do not run again on the retry.
var ErrRetry = errors.New("retry the delivery")

// Tool registers fn as the function the model may call by name (the name
// declared in the interaction's tools). With at least one tool registered,
// the built-in actions answer interaction.requires_action themselves: they
// run the pending calls and continue the interaction, then the handlers
// registered with On(InteractionRequiresAction, …) run. Like On, Tool
// panics after the mux served its first event; it panics too for an empty
// name, a nil fn or a name registered already.
func (m *Mux) Tool(name string, fn ToolFunc) *Mux {
	if strings.TrimSpace(name) == "" || fn == nil {
		panic(fmt.Sprintf("core: Mux.Tool(%q): a tool needs a name and a function", name))
	}
	return m.register("Tool", func() {
		if _, dup := m.tools[name]; dup {
			panic(fmt.Sprintf("core: Mux.Tool(%q): a tool of that name is registered already", name))
		}
		if m.tools == nil {
			m.tools = make(map[string]ToolFunc)
		}
		m.tools[name] = fn
	})
}

// Tools lists the names of the tools registered so far, sorted; nil when
// none. A runtime reads it to know that interaction.requires_action is
// answered by the built-in actions (the reconcile then brings one a
// webhook missed).
func (m *Mux) Tools() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return toolbox.New(m.tools).Names()
}
