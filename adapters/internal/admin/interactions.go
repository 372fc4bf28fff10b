package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	ia "google.golang.org/genai/interactions/models/interactions"

	"github.com/geminiwebhooks/receiver/adapters/gemini"
	"github.com/geminiwebhooks/receiver/adapters/internal/env"
	"github.com/geminiwebhooks/receiver/core"
)

// interactions start: a try-out of a tools conversation from the command
// line. The interaction runs in the background, stored, and sends its
// events to RECEIVER_URL (gemini.StartModelInteraction), where the
// receiver's Mux.Tool functions answer its function calls.

// startedView is interactions start --json.
type startedView struct {
	ID           string         `json:"id"` // interactions/…, as the ledger and jobs get name it
	Status       string         `json:"status,omitempty"`
	Model        string         `json:"model,omitempty"`
	Agent        string         `json:"agent,omitempty"`
	Tools        []string       `json:"tools,omitempty"`
	WebhookURIs  []string       `json:"webhook_uris"`
	UserMetadata map[string]any `json:"user_metadata,omitempty"`
	Next         string         `json:"next"`
}

// multi is a flag that may be given more than once.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func cmdInteractions(ctx context.Context, a *app, args []string) error {
	usage := fmt.Sprintf("usage: %s interactions start --model M|--agent A --input TEXT [--tool-decl FILE.json]... [--metadata k=v]... [--receiver URL]... [--json]", a.Name)
	if len(args) == 0 || args[0] != "start" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(a.stdout, usage)
			return ErrHelp
		}
		return usagef("want interactions start (%s)", usage)
	}
	f := newFlags(a, "interactions start")
	model := f.String("model", "", "the model (e.g. gemini-3-flash-preview); or --agent")
	agent := f.String("agent", "", "the agent; or --model")
	input := f.String("input", "", "the user's message")
	system := f.String("system", "", "a system instruction")
	var decls, meta, receivers multi
	f.Var(&decls, "tool-decl", "a JSON file of a function declaration ({\"name\", \"description\", \"parameters\"}) or a list of them; repeatable")
	f.Var(&meta, "metadata", "k=v of the webhook_config's user_metadata, echoed in every event of the conversation; repeatable")
	f.Var(&receivers, "receiver", "where its events go; repeatable (default: RECEIVER_URL)")
	if err := f.parse(args[1:]); err != nil {
		return err
	}
	if (*model == "") == (*agent == "") {
		return usagef("want one of --model or --agent")
	}
	if *input == "" {
		return usagef("--input is required (the user's message)")
	}
	tools, names, err := readToolDecls(decls)
	if err != nil {
		return err
	}
	md := map[string]any{}
	for _, kv := range meta {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usagef("--metadata %q: want k=v", kv)
		}
		md[k] = v
	}
	if len(md) == 0 {
		md = nil
	}
	uris := []string(receivers)
	if len(uris) == 0 {
		var errs []error
		if uris, errs = env.ReceiverURLs(a.getenv); len(errs) > 0 {
			return &UsageError{Msg: errors.Join(errs...).Error()}
		}
		if len(uris) == 0 {
			return usagef("no receiver: set RECEIVER_URL to the receiver's public URL (or give --receiver): the interaction's events would reach no one")
		}
	}
	cfg, err := env.Load(a.getenv, env.Local)
	if err != nil {
		return err
	}
	if cfg.GeminiAPIKey == "" {
		return usagef("no API key: set GEMINI_API_KEY")
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	c, err := gemini.New(ctx, gemini.Config{APIKey: cfg.GeminiAPIKey, BaseURL: cfg.GeminiBaseURL, CallTimeout: f.timeout})
	if err != nil {
		return err
	}
	in := ia.NewInteractionsInput(*input)
	var sys *string
	if *system != "" {
		sys = system
	}
	r := gemini.Receiver{URIs: uris, UserMetadata: md}
	var it *ia.Interaction
	if *model != "" {
		it, err = gemini.StartModelInteraction(ctx, c.SDK(), ia.CreateModelInteraction{Model: ia.Model(*model), Input: &in, Tools: tools, SystemInstruction: sys}, r)
	} else {
		it, err = gemini.StartAgentInteraction(ctx, c.SDK(), ia.CreateAgentInteraction{Agent: ia.AgentOption(*agent), Input: &in, Tools: tools, SystemInstruction: sys}, r)
	}
	if err != nil {
		return err
	}
	id := core.NormalizeJobID("interaction", *it.ID)
	v := startedView{ID: id, Status: string(it.Status), Model: *model, Agent: *agent, Tools: names, WebhookURIs: uris, UserMetadata: md,
		Next: fmt.Sprintf("its events go to the receiver: on interaction.requires_action it runs your Mux.Tool functions and continues it, until interaction.completed; follow it with: %s jobs get %s", a.Name, id)}
	if f.json {
		return PrintJSON(a.stdout, v)
	}
	table(a.stdout, "STARTED\tSTATUS\tEVENTS TO", [][]string{{clip(id, 80), orNone(v.Status, "-"), clip(strings.Join(uris, ", "), 120)}})
	fmt.Fprintf(a.stdout, "\nNext: Gemini sends its events to the receiver; on interaction.requires_action it\nruns your Mux.Tool functions (%s) and continues the interaction, until\ninteraction.completed. Follow it with:\n  %s jobs get %s\n",
		orNone(strings.Join(names, ", "), "none declared"), a.Name, id)
	return nil
}

// readToolDecls reads the function declarations of the --tool-decl files.
func readToolDecls(files []string) ([]ia.Tool, []string, error) {
	var tools []ia.Tool
	var names []string
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, usagef("--tool-decl: %v", err)
		}
		var list []ia.Function
		if err := json.Unmarshal(b, &list); err != nil {
			var one ia.Function
			if err2 := json.Unmarshal(b, &one); err2 != nil {
				return nil, nil, usagef("--tool-decl %s: want a JSON function declaration or a list of them: %v", path, err2)
			}
			list = []ia.Function{one}
		}
		for _, fn := range list {
			if fn.Name == nil || *fn.Name == "" {
				return nil, nil, usagef("--tool-decl %s: a declaration has no name", path)
			}
			names = append(names, *fn.Name)
			tools = append(tools, ia.NewTool(fn))
		}
	}
	return tools, names, nil
}
