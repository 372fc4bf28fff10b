package wire_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/gemini/geminitest"
	"github.com/geminiwebhooks/receiver/adapters/internal/env"
	"github.com/geminiwebhooks/receiver/adapters/internal/wire"
	"github.com/geminiwebhooks/receiver/adapters/webhooktest"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
	"github.com/geminiwebhooks/receiver/core/reconcile"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
)

// toolsRig is a receiver with tools, on a store, and what ran.
type toolsRig struct {
	k    *webhooktest.Kit
	mu   sync.Mutex
	runs map[string]int // by interaction/call id
	// completed: the conversation and user_metadata an
	// interaction.completed handler saw.
	completed []jobs.Job
	calls     []core.ToolCall
}

func (r *toolsRig) ran(c *core.ToolCall) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs[c.InteractionID+"/"+c.CallID]++
	r.calls = append(r.calls, *c)
}

// newToolsRig builds the receiver with the tools of the tests: get_weather
// (JSON), get_time (a string), broken (an error), flaky (ErrRetry the first
// time), boom (a panic).
func newToolsRig(t *testing.T, store []string, opts ...webhooktest.Option) *toolsRig {
	r := &toolsRig{runs: map[string]int{}}
	var flakyOnce sync.Once
	mux := core.NewMux().
		Tool("get_weather", func(ctx context.Context, c *core.ToolCall) (any, error) {
			r.ran(c)
			return map[string]any{"args": c.Args, "temp_c": 21}, nil
		}).
		Tool("get_time", func(ctx context.Context, c *core.ToolCall) (any, error) {
			r.ran(c)
			return "12:00", nil
		}).
		Tool("broken", func(ctx context.Context, c *core.ToolCall) (any, error) {
			r.ran(c)
			return nil, errors.New("disk full")
		}).
		Tool("flaky", func(ctx context.Context, c *core.ToolCall) (any, error) {
			r.ran(c)
			var err error
			flakyOnce.Do(func() { err = fmt.Errorf("upstream down: %w", core.ErrRetry) })
			return "ok at last", err
		}).
		Tool("slow", func(ctx context.Context, c *core.ToolCall) (any, error) {
			r.ran(c)
			time.Sleep(300 * time.Millisecond) // long enough for the other deliveries to arrive
			return "done", nil
		}).
		Tool("boom", func(ctx context.Context, c *core.ToolCall) (any, error) {
			r.ran(c)
			panic("boom")
		}).
		On(core.InteractionCompleted, func(ctx context.Context, ev *core.Event) error {
			j, _ := jobs.JobOf(ctx)
			r.mu.Lock()
			r.completed = append(r.completed, *j)
			r.mu.Unlock()
			return nil
		})
	for i := 0; i+1 < len(store); i += 2 {
		opts = append(opts, webhooktest.Env(store[i], store[i+1]))
	}
	r.k = webhooktest.New(t, mux, opts...)
	return r
}

func (r *toolsRig) deliver(t *testing.T, ev webhooktest.Event, status int) {
	t.Helper()
	if res := r.k.Deliver(ev); res.Status != status {
		t.Fatalf("%s %s: %d %s %s; want %d", ev.Type, ev.JobID, res.Status, res.Outcome, res.Reason, status)
	}
}

func (r *toolsRig) runCount(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runs[key]
}

// onStores runs a tools test on the file store and on the Firestore emulator.
func onStores(t *testing.T, test func(t *testing.T, store []string)) {
	t.Run("file store", func(t *testing.T) { test(t, nil) })
	t.Run("firestore", func(t *testing.T) {
		t.Setenv("FIRESTORE_EMULATOR_HOST", service(t, &services.firestore, testenv.StartFirestore))
		test(t, []string{"IDEMPOTENCY_STORE", "firestore", "GOOGLE_CLOUD_PROJECT", fmt.Sprintf("tools-%d", time.Now().UnixNano())})
	})
}

// Deliveries of one round at the same moment in one process (the local
// queue's lanes, an instance's concurrent requests; three delivery ids, as
// Gemini's redelivery under a new id would bring) run each tool once and
// continue the interaction once; a delivery that lost the race is retried
// as Gemini would, and runs nothing.
func TestToolsConcurrentDeliveriesOfOneRound(t *testing.T) {
	onStores(t, func(t *testing.T, store []string) {
		r := newToolsRig(t, store)
		r.k.API.AddConversation("conv_c", geminitest.Conversation{
			Model:  "gemini-3-flash-preview",
			Rounds: []geminitest.Round{{Calls: []geminitest.Call{{ID: "c1", Name: "slow"}, {ID: "c2", Name: "get_time"}}}, {}},
		})
		evs := make([]webhooktest.Event, 3)
		for i := range evs {
			evs[i] = webhooktest.InteractionRequiresAction("interactions/conv_c")
		}
		status := make([]int, len(evs))
		var wg sync.WaitGroup
		for i := range evs {
			wg.Add(1)
			go func() { defer wg.Done(); status[i] = r.k.Deliver(evs[i]).Status }()
		}
		wg.Wait()
		for i, st := range status {
			for try := 0; st != 200 && try < 5; try++ { // Gemini's retry
				st = r.k.Deliver(evs[i]).Status
			}
			if st != 200 {
				t.Fatalf("delivery %d: %d after retries", i, st)
			}
		}
		for _, call := range []string{"conv_c/c1", "conv_c/c2"} {
			if n := r.runCount(call); n != 1 {
				t.Errorf("%s ran %d times; want 1", call, n)
			}
		}
		if conts := r.k.API.Continuations(); len(conts) != 1 {
			t.Errorf("%d continuations; want 1", len(conts))
		}
	})
}

// Two rounds of two tool calls: every tool runs once, one continuation per
// round carries the right function_result steps, redeliveries (same id,
// another id) run nothing again, and the last round's interaction.completed
// reaches the handlers with the conversation's first id and user_metadata.
func TestToolsTwoRounds(t *testing.T) {
	onStores(t, func(t *testing.T, store []string) {
		r := newToolsRig(t, store)
		r.k.API.AddConversation("conv_a", geminitest.Conversation{
			Model: "gemini-3-flash-preview", WebhookURIs: []string{"https://receiver.example/hook"},
			UserMetadata: map[string]any{"ticket": "T-1"},
			Rounds: []geminitest.Round{
				{Calls: []geminitest.Call{{ID: "c1", Name: "get_weather", Args: map[string]any{"city": "Paris"}}, {ID: "c2", Name: "get_time"}}},
				{Calls: []geminitest.Call{{ID: "c3", Name: "get_weather", Args: map[string]any{"city": "Oslo"}}, {ID: "c4", Name: "get_time"}}},
				{},
			},
		})
		meta := map[string]any{"ticket": "T-1"}
		first := webhooktest.InteractionRequiresAction("interactions/conv_a").WithUserMetadata(meta)
		r.deliver(t, first, 200)
		r.deliver(t, first, 200)                                                        // the same delivery again
		r.deliver(t, webhooktest.InteractionRequiresAction("interactions/conv_a"), 200) // another id
		conts := r.k.API.Continuations()
		if len(conts) != 1 || conts[0].Previous != "conv_a" {
			t.Fatalf("after round 1: continuations %+v; want one of conv_a", conts)
		}
		want1 := []geminitest.Result{{CallID: "c1", Name: "get_weather", Result: `{"args":{"city":"Paris"},"temp_c":21}`}, {CallID: "c2", Name: "get_time", Result: "12:00"}}
		if c := conts[0]; !reflect.DeepEqual(c.Results, want1) || !c.Background || !c.Store || c.Model != "gemini-3-flash-preview" ||
			!reflect.DeepEqual(c.WebhookURIs, []string{"https://receiver.example/hook"}) || c.UserMetadata["ticket"] != "T-1" || len(c.Tools) != 2 {
			t.Fatalf("round 1's continuation: %+v", c)
		}
		// One get and one create per round, redeliveries included.
		if n := r.k.API.InteractionGets("conv_a"); n != 1 {
			t.Errorf("round 1 read the interaction %d times; want 1", n)
		}
		second := webhooktest.InteractionRequiresAction("interactions/" + conts[0].ID)
		r.deliver(t, second, 200)
		r.deliver(t, webhooktest.InteractionRequiresAction("interactions/"+conts[0].ID), 200)
		conts = r.k.API.Continuations()
		if len(conts) != 2 || conts[1].Previous != conts[0].ID {
			t.Fatalf("after round 2: continuations %+v", conts)
		}
		want2 := []geminitest.Result{{CallID: "c3", Name: "get_weather", Result: `{"args":{"city":"Oslo"},"temp_c":21}`}, {CallID: "c4", Name: "get_time", Result: "12:00"}}
		if !reflect.DeepEqual(conts[1].Results, want2) {
			t.Fatalf("round 2's results %+v; want %+v", conts[1].Results, want2)
		}
		for _, key := range []string{"conv_a/c1", "conv_a/c2", conts[0].ID + "/c3", conts[0].ID + "/c4"} {
			if n := r.runCount(key); n != 1 {
				t.Errorf("tool call %s ran %d times; want 1", key, n)
			}
		}
		r.mu.Lock()
		for _, c := range r.calls {
			if c.FirstInteractionID != "conv_a" || c.Event == nil || strings.Contains(c.InteractionID, "/") {
				t.Errorf("tool call %+v: want FirstInteractionID conv_a, a bare InteractionID and its event", c)
			}
		}
		r.mu.Unlock()
		// The round's job records its tools and continuation, and is no longer waiting.
		j, err := r.k.Job("interactions/conv_a")
		if err != nil || j.Continuation != "interactions/"+conts[0].ID || len(j.ToolRuns) != 2 || j.State != jobs.JobSucceeded {
			t.Fatalf("round 1's job: %+v, %v", j, err)
		}
		// The round's line says which tools ran, how, and the continuation.
		if log := r.k.Log(); !strings.Contains(log, `"tools":"get_weather:ok:`) || !strings.Contains(log, `"continuation":"interactions/`+conts[1].ID+`"`) || !strings.Contains(log, `"tools":"done before"`) {
			t.Fatalf("the delivery lines do not carry the tools and the continuation:\n%s", log)
		}
		r.deliver(t, webhooktest.InteractionCompleted("interactions/"+conts[1].ID), 200)
		r.mu.Lock()
		defer r.mu.Unlock()
		if len(r.completed) != 1 || r.completed[0].Conversation != "interactions/conv_a" || r.completed[0].Round != 3 ||
			r.completed[0].UserMetadata["ticket"] != "T-1" {
			t.Fatalf("interaction.completed handlers saw %+v; want the conversation interactions/conv_a, round 3, ticket T-1", r.completed)
		}
	})
}

// A tool's error reaches the model as is_error, an unknown tool is
// answered is_error, ErrRetry fails the delivery and its retry runs only
// what was not recorded.
func TestToolsErrorsAndRetry(t *testing.T) {
	onStores(t, func(t *testing.T, store []string) {
		r := newToolsRig(t, store)
		r.k.API.AddConversation("conv_e", geminitest.Conversation{
			Model: "gemini-3-flash-preview",
			Rounds: []geminitest.Round{{Calls: []geminitest.Call{
				{ID: "e1", Name: "get_time"}, {ID: "e2", Name: "flaky"}, {ID: "e3", Name: "broken"}, {ID: "e4", Name: "no_such_tool"},
			}}, {}},
		})
		ev := webhooktest.InteractionRequiresAction("interactions/conv_e")
		r.deliver(t, ev, 500) // flaky asks for a retry
		if n := len(r.k.API.Continuations()); n != 0 {
			t.Fatalf("%d continuations after ErrRetry; want 0", n)
		}
		r.deliver(t, ev, 200) // Gemini's retry of the same delivery
		conts := r.k.API.Continuations()
		want := []geminitest.Result{
			{CallID: "e1", Name: "get_time", Result: "12:00"},
			{CallID: "e2", Name: "flaky", Result: "ok at last"},
			{CallID: "e3", Name: "broken", Result: "disk full", IsError: true},
			{CallID: "e4", Name: "no_such_tool", Result: "no tool named no_such_tool", IsError: true},
		}
		if len(conts) != 1 || !reflect.DeepEqual(conts[0].Results, want) {
			t.Fatalf("continuations %+v; want one with %+v", conts, want)
		}
		for key, n := range map[string]int{"conv_e/e1": 1, "conv_e/e2": 2, "conv_e/e3": 1} {
			if got := r.runCount(key); got != n {
				t.Errorf("%s ran %d times; want %d", key, got, n)
			}
		}
		if log := r.k.Log(); !strings.Contains(log, "no_such_tool") || !strings.Contains(log, `"level":"WARN"`) {
			t.Errorf("no WARN naming the unknown tool in the log:\n%s", log)
		}
	})
}

// A crash between the tools and the continuation (the create fails once)
// continues once, without running a tool again; a panicking tool fails the
// delivery.
func TestToolsCreateFailsOnce(t *testing.T) {
	onStores(t, func(t *testing.T, store []string) {
		r := newToolsRig(t, store)
		r.k.API.AddConversation("conv_f", geminitest.Conversation{
			Model:  "gemini-3-flash-preview",
			Rounds: []geminitest.Round{{Calls: []geminitest.Call{{ID: "f1", Name: "get_time"}, {ID: "f2", Name: "get_weather"}}}, {}},
		})
		r.k.API.FailCreates(1)
		ev := webhooktest.InteractionRequiresAction("interactions/conv_f")
		r.deliver(t, ev, 500)
		r.deliver(t, webhooktest.InteractionRequiresAction("interactions/conv_f"), 200) // a retry under another id
		if conts := r.k.API.Continuations(); len(conts) != 1 || len(conts[0].Results) != 2 {
			t.Fatalf("continuations %+v; want one with two results", conts)
		}
		for _, key := range []string{"conv_f/f1", "conv_f/f2"} {
			if n := r.runCount(key); n != 1 {
				t.Errorf("%s ran %d times; want 1", key, n)
			}
		}

		r.k.API.AddConversation("conv_p", geminitest.Conversation{
			Model: "gemini-3-flash-preview", Rounds: []geminitest.Round{{Calls: []geminitest.Call{{ID: "p1", Name: "boom"}}}, {}},
		})
		r.deliver(t, webhooktest.InteractionRequiresAction("interactions/conv_p"), 500)
		if n := len(r.k.API.Continuations()); n != 1 {
			t.Fatalf("a panicking tool's round was continued (%d continuations)", n)
		}
	})
}

// INTERACTION_MAX_ROUNDS stops a runaway loop: the round past it is not
// continued, its job fails with the reason, said at ERROR.
func TestToolsRoundBound(t *testing.T) {
	onStores(t, func(t *testing.T, store []string) {
		r := newToolsRig(t, store, webhooktest.Env("INTERACTION_MAX_ROUNDS", "2"))
		loop := geminitest.Round{Calls: []geminitest.Call{{ID: "l1", Name: "get_time"}}}
		r.k.API.AddConversation("conv_l", geminitest.Conversation{Model: "gemini-3-flash-preview", Rounds: []geminitest.Round{loop, loop, loop, loop}})
		r.deliver(t, webhooktest.InteractionRequiresAction("interactions/conv_l"), 200)
		conts := r.k.API.Continuations()
		if len(conts) != 1 {
			t.Fatalf("%d continuations after round 1; want 1", len(conts))
		}
		second := "interactions/" + conts[0].ID
		r.deliver(t, webhooktest.InteractionRequiresAction(second), 200)
		if n := len(r.k.API.Continuations()); n != 1 {
			t.Fatalf("round 2 of at most 2 was continued (%d continuations)", n)
		}
		j, err := r.k.Job(second)
		if err != nil || j.State != jobs.JobFailed || !strings.Contains(j.ErrorMessage, "INTERACTION_MAX_ROUNDS") || j.Conversation != "interactions/conv_l" {
			t.Fatalf("round 2's job %+v, %v; want failed naming INTERACTION_MAX_ROUNDS", j, err)
		}
		if n := r.runCount(conts[0].ID + "/l1"); n != 0 {
			t.Fatalf("round 2's tool ran %d times past the bound", n)
		}
		if log := r.k.Log(); !strings.Contains(log, `"level":"ERROR","msg":"tools conversation stopped"`) {
			t.Fatalf("no ERROR line for the stop:\n%s", log)
		}
	})
}

// A round whose webhook was lost (its task a dead letter after the create
// failed) is continued by the reconcile, once, without running its
// recorded tool again; the next reconcile finds nothing to do.
func TestToolsReconcileContinuesOnce(t *testing.T) {
	api := geminitest.New(apiKey)
	t.Cleanup(api.Close)
	api.AddConversation("conv_r", geminitest.Conversation{
		Model: "gemini-3-flash-preview", Rounds: []geminitest.Round{{Calls: []geminitest.Call{{ID: "r1", Name: "get_time"}}}, {}},
	})
	var mu sync.Mutex
	runs := 0
	mux := core.NewMux().Tool("get_time", func(context.Context, *core.ToolCall) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		runs++
		return "12:00", nil
	})
	dir := t.TempDir()
	r := startMux(t, map[string]string{
		"WEBHOOK_SIGNING_SECRET": secret, "STATE_PATH": dir + "/state.db", "RESULTS_SINK": dir + "/results",
		"GEMINI_API_KEY": apiKey, "GOOGLE_GEMINI_BASE_URL": api.URL, "MAX_ATTEMPTS": "1",
	}, mux)
	api.FailCreates(1)
	if st := r.deliver("msg_lost", batchEvent(core.InteractionRequiresAction, "interactions/conv_r", "")); st != 202 && st != 200 {
		t.Fatalf("delivery: %d", st)
	}
	r.idle()
	if n := len(api.Continuations()); n != 0 {
		t.Fatalf("%d continuations while the create fails", n)
	}
	run := func() {
		cfg, err := r.app.ReconcileConfig(wire.ReconcileOptions{Logger: slog.New(slog.NewJSONHandler(testWriter(t), nil))})
		if err != nil {
			t.Fatal(err)
		}
		cfg.MinAge = time.Nanosecond // the job is seconds old
		if _, err := reconcile.Run(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
	}
	run()
	run()
	conts := api.Continuations()
	if len(conts) != 1 || len(conts[0].Results) != 1 || conts[0].Results[0].Result != "12:00" {
		t.Fatalf("continuations %+v; want one with get_time's result", conts)
	}
	mu.Lock()
	if runs != 1 {
		t.Fatalf("get_time ran %d times; want 1", runs)
	}
	mu.Unlock()

	// An interaction the API does not know cannot be answered with this
	// key: kept as a dead letter (to replay once the key is right), not
	// lost as processed.
	if st := r.deliver("msg_unknown", batchEvent(core.InteractionRequiresAction, "interactions/not_there", "")); st != 202 && st != 200 {
		t.Fatalf("delivery: %d", st)
	}
	r.idle()
	dl, err := r.app.DeadLetters.ListDeadLetters(context.Background(), 10)
	keys := map[string]string{}
	for _, d := range dl {
		keys[d.Key] = d.Reason
	}
	if err != nil || len(dl) != 2 || keys["msg_lost"] == "" || !strings.Contains(keys["msg_unknown"], "does not know") {
		t.Fatalf("dead letters %+v, %v; want msg_lost (the round whose create failed) and msg_unknown (an interaction the API does not know)", dl, err)
	}
}

// Tools without GEMINI_API_KEY can never run: said at start, once.
func TestToolsWithoutAPIKeyWarned(t *testing.T) {
	for _, tc := range []struct {
		name string
		mux  *core.Mux
		warn bool
	}{
		{"tools", core.NewMux().Tool("get_time", func(context.Context, *core.ToolCall) (any, error) { return "", nil }), true},
		{"no tools", core.NewMux(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg, err := env.Load(func(k string) string {
				return map[string]string{"WEBHOOK_SIGNING_SECRET": secret, "STATE_PATH": dir + "/state.db", "RESULTS_SINK": dir + "/results"}[k]
			}, env.Local)
			if err != nil {
				t.Fatal(err)
			}
			var buf strings.Builder
			app, err := wire.Build(context.Background(), cfg, tc.mux, wire.Options{Logger: slog.New(slog.NewTextHandler(&buf, nil)), Cloud: testCloud()})
			if err != nil {
				t.Fatal(err)
			}
			app.Close()
			if got := strings.Contains(buf.String(), "the mux registers tools but GEMINI_API_KEY is not set"); got != tc.warn {
				t.Fatalf("warned: %v, want %v:\n%s", got, tc.warn, buf.String())
			}
		})
	}
}

// Under dynamic tokens that bind no delivery (hints), the round is
// confirmed with the API before anything is written, then answered once;
// the same round under a second token runs nothing again.
func TestToolsUnderHints(t *testing.T) {
	api := geminitest.New(apiKey)
	t.Cleanup(api.Close)
	api.AddConversation("hint_c", geminitest.Conversation{
		Model: "gemini-3-flash-preview", Rounds: []geminitest.Round{{Calls: []geminitest.Call{{ID: "h1", Name: "get_time"}}}, {}},
	})
	var mu sync.Mutex
	runs := 0
	r := startDynamicMux(t, api, nil, core.NewMux().Tool("get_time", func(context.Context, *core.ToolCall) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		runs++
		return "12:00", nil
	}))
	// A bare id, as the guide's samples; the second delivery is another
	// event of the same round (another timestamp), under another token.
	body := envelope(core.InteractionRequiresAction, map[string]any{"id": "hint_c"})
	again := []byte(strings.Replace(string(body), `"timestamp":"`, `"timestamp":"2026-01-01T00:00:00Z","x":"`, 1))
	for i, d := range []struct {
		tok  string
		body []byte
	}{{r.bareToken(time.Now()), body}, {r.bareToken(time.Now().Add(-time.Minute)), again}} {
		if st, o := r.post(d.tok, "", d.body); st/100 != 2 {
			t.Fatalf("delivery %d: %d %s", i+1, st, o)
		}
		r.idle()
	}
	conts := api.Continuations()
	if len(conts) != 1 || conts[0].Previous != "hint_c" || len(conts[0].Results) != 1 {
		t.Fatalf("continuations %+v; want one of hint_c", conts)
	}
	// A hint is confirmed with a get of its own: two per round, and one for
	// the second token, which finds the round continued.
	if n := api.InteractionGets("hint_c"); n != 3 {
		t.Errorf("%d gets of the interaction; want 3", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if runs != 1 {
		t.Fatalf("get_time ran %d times; want 1", runs)
	}
}
