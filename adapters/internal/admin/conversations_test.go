package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/gemini/geminitest"
	"github.com/geminiwebhooks/receiver/adapters/internal/admin"
	"github.com/geminiwebhooks/receiver/adapters/webhooktest"
	"github.com/geminiwebhooks/receiver/core"
)

// conversation runs a tools conversation through the real pipeline (the
// webhooktest kit: signed deliveries, the tools action, the stand-in's
// Interactions API) on a file store at state, up to the deliveries given
// (1: round 1 answered and continued; 3: completed), and closes the
// receiver so the commands read the file.
func conversation(t *testing.T, state string, deliveries int) {
	t.Helper()
	mux := core.NewMux().
		Tool("get_weather", func(ctx context.Context, c *core.ToolCall) (any, error) { return map[string]any{"temp_c": 21}, nil }).
		Tool("get_time", func(ctx context.Context, c *core.ToolCall) (any, error) { return "12:00", nil }).
		Tool("broken", func(ctx context.Context, c *core.ToolCall) (any, error) { return nil, errors.New("disk full") })
	k, err := webhooktest.Start(mux, webhooktest.Env("STATE_PATH", state))
	if err != nil {
		t.Fatal(err)
	}
	k.API.AddConversation("conv_a", geminitest.Conversation{
		Model: "gemini-3-flash-preview", UserMetadata: map[string]any{"ticket": "T-1"},
		Rounds: []geminitest.Round{
			{Calls: []geminitest.Call{{ID: "c1", Name: "get_weather", Args: map[string]any{"city": "Paris"}}, {ID: "c2", Name: "get_time"}}},
			{Calls: []geminitest.Call{{ID: "c3", Name: "get_weather"}, {ID: "c4", Name: "broken"}}},
			{},
		},
	})
	events := []webhooktest.Event{
		webhooktest.InteractionRequiresAction("interactions/conv_a").WithUserMetadata(map[string]any{"ticket": "T-1"}),
		webhooktest.InteractionRequiresAction("interactions/conv_a_c1"),
		webhooktest.InteractionCompleted("interactions/conv_a_c2"),
	}
	for _, ev := range events[:deliveries] {
		if res := k.Deliver(ev); res.Status != 200 {
			t.Fatalf("%s %s: %d %s %s", ev.Type, ev.JobID, res.Status, res.Outcome, res.Reason)
		}
	}
	if n := len(k.API.Continuations()); n != min(deliveries, 2) {
		t.Fatalf("%d continuations; want %d", n, min(deliveries, 2))
	}
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
}

func runAdmin(t *testing.T, state string, clock time.Time, args ...string) string {
	t.Helper()
	var out, errs strings.Builder
	e := admin.Env{Name: "x", Stdout: &out, Stderr: &errs, Clock: func() time.Time { return clock },
		Getenv: func(k string) string { return map[string]string{"STATE_PATH": state}[k] }}
	if code := admin.Run(context.Background(), args, e); code != 0 {
		t.Fatalf("%s: exit %d: %s", strings.Join(args, " "), code, errs.String())
	}
	return out.String()
}

type roundJSON struct {
	Round        int
	ID           string
	State        string
	Continuation string
	Tools        []struct {
		CallID     string  `json:"call_id"`
		Name       string  `json:"name"`
		Outcome    string  `json:"outcome"`
		Result     string  `json:"result"`
		DurationMS float64 `json:"duration_ms"`
	}
}

type jobJSON struct {
	ID           string         `json:"id"`
	State        string         `json:"state"`
	Stuck        bool           `json:"stuck"`
	Rounds       int            `json:"rounds"`
	LastRound    string         `json:"last_round"`
	ToolsRun     int            `json:"tools_run"`
	ToolsFailed  int            `json:"tools_failed"`
	UserMetadata map[string]any `json:"user_metadata"`
	RoundDetails []roundJSON    `json:"round_details"`
}

// Issue 23: the job is the conversation. jobs list shows one row per
// conversation (first id, last round's state, rounds, tools, failures),
// jobs get shows its rounds from any round's id, and status counts it once
// and never as stuck while its continuation is in flight; --json carries
// the same. On the old code jobs list printed one row per round.
func TestConversationIsOneJob(t *testing.T) {
	later := time.Now().Add(3 * time.Hour) // any requires_action would be "stuck" by now
	cases := []struct {
		name       string
		deliveries int
		state      string
		rounds     int
		lastRound  string
		tools      int
		failed     int
		row        []string
		byState    map[string]float64
	}{
		{"continuation in flight", 1, "pending", 2, "interactions/conv_a_c1", 2, 0,
			[]string{"interactions/conv_a", "pending", "2", "2"}, map[string]float64{"pending": 1}},
		{"completed", 3, "succeeded", 3, "interactions/conv_a_c2", 4, 1,
			[]string{"interactions/conv_a", "succeeded", "3", "4 (1 failed)"}, map[string]float64{"succeeded": 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "state.db")
			conversation(t, state, c.deliveries)

			// jobs list: one row, whatever --limit cuts off (the rounds
			// cut off are read along the continuations).
			for _, limit := range []string{"50", "1"} {
				out := runAdmin(t, state, later, "jobs", "list", "--limit", limit)
				lines := strings.Split(strings.TrimSpace(out), "\n")
				if len(lines) != 2 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[0], "ROUNDS") || !strings.Contains(lines[0], "TOOLS") {
					t.Fatalf("jobs list --limit %s printed:\n%s\nwant a header and one row", limit, out)
				}
				fields := strings.Split(lines[1], "  ")
				var cells []string
				for _, f := range fields {
					if f = strings.TrimSpace(f); f != "" {
						cells = append(cells, f)
					}
				}
				if len(cells) < 4 || !reflect.DeepEqual(cells[:4], c.row) {
					t.Errorf("jobs list --limit %s row %q; want it to start %q", limit, cells, c.row)
				}
				var list []jobJSON
				if err := json.Unmarshal([]byte(runAdmin(t, state, later, "jobs", "list", "--json", "--limit", limit)), &list); err != nil {
					t.Fatal(err)
				}
				want := jobJSON{ID: "interactions/conv_a", State: c.state, Rounds: c.rounds, LastRound: c.lastRound, ToolsRun: c.tools, ToolsFailed: c.failed,
					UserMetadata: map[string]any{"ticket": "T-1"}}
				if len(list) != 1 || !reflect.DeepEqual(list[0], want) {
					t.Errorf("jobs list --json --limit %s: %+v; want [%+v]", limit, list, want)
				}
			}

			// jobs get from the first id and from the second round's: the rounds.
			for _, id := range []string{"interactions/conv_a", "interactions/conv_a_c1"} {
				var got jobJSON
				if err := json.Unmarshal([]byte(runAdmin(t, state, later, "jobs", "get", id, "--json")), &got); err != nil {
					t.Fatal(err)
				}
				if got.ID != "interactions/conv_a" || got.Rounds != c.rounds || len(got.RoundDetails) != c.rounds {
					t.Fatalf("jobs get %s --json: %+v", id, got)
				}
				r1 := got.RoundDetails[0]
				if r1.Round != 1 || r1.ID != "interactions/conv_a" || r1.Continuation != "interactions/conv_a_c1" || len(r1.Tools) != 2 ||
					r1.Tools[0].CallID != "c1" || r1.Tools[0].Name != "get_weather" || r1.Tools[0].Outcome != "ok" || r1.Tools[0].Result != `{"temp_c":21}` ||
					r1.Tools[1].CallID != "c2" || r1.Tools[1].Result != "12:00" || r1.Tools[0].DurationMS <= 0 {
					t.Errorf("round 1: %+v", r1)
				}
				if r2 := got.RoundDetails[1]; r2.Round != 2 || r2.ID != "interactions/conv_a_c1" {
					t.Errorf("round 2: %+v", r2)
				}
				if c.deliveries == 3 {
					r2, r3 := got.RoundDetails[1], got.RoundDetails[2]
					if r2.Continuation != "interactions/conv_a_c2" || len(r2.Tools) != 2 || r2.Tools[1].Name != "broken" || r2.Tools[1].Outcome != "error" || r2.Tools[1].Result != "disk full" {
						t.Errorf("round 2: %+v", r2)
					}
					if r3.Round != 3 || r3.ID != "interactions/conv_a_c2" || r3.State != "succeeded" || len(r3.Tools) != 0 || r3.Continuation != "" {
						t.Errorf("round 3: %+v", r3)
					}
				}
			}
			out := runAdmin(t, state, later, "jobs", "get", "interactions/conv_a")
			for _, want := range []string{"ROUND", "CALL ID", "OUTCOME", "CONTINUATION", "get_weather", "c2", "interactions/conv_a_c1"} {
				if !strings.Contains(out, want) {
					t.Errorf("jobs get lacks %q:\n%s", want, out)
				}
			}
			if c.deliveries == 3 && !strings.Contains(out, "error: disk full") {
				t.Errorf("jobs get lacks the failed tool:\n%s", out)
			}

			// status: one job, in the conversation's state, never stuck.
			var s struct {
				Jobs          map[string]float64 `json:"jobs_by_state"`
				Stuck         []jobJSON          `json:"stuck_requires_action"`
				Conversations int                `json:"tool_conversations"`
				ToolsRun      int                `json:"tools_run"`
			}
			if err := json.Unmarshal([]byte(runAdmin(t, state, later, "status", "--json", "--deliveries", "none")), &s); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(s.Jobs, c.byState) || len(s.Stuck) != 0 || s.Conversations != 1 || s.ToolsRun != c.tools {
				t.Errorf("status --json: %+v; want jobs %v, none stuck, one conversation with %d tools", s, c.byState, c.tools)
			}
			if out := runAdmin(t, state, later, "status", "--deliveries", "none"); !strings.Contains(out, "stuck requires_action (> 1h)  0") ||
				!strings.Contains(out, "tools conversations") {
				t.Errorf("status:\n%s", out)
			}
		})
	}
}
