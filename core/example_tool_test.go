package core_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/geminiwebhooks/receiver/adapters/gemini/geminitest"
	"github.com/geminiwebhooks/receiver/adapters/webhooktest"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

// A tool the model may call, by the name declared in the interaction's
// tools: on interaction.requires_action the receiver reads the pending
// calls, runs each tool once, and continues the interaction with the
// results; the conversation's end reaches ordinary handlers. Here the test
// kit (adapters/webhooktest) plays Gemini: its stand-in holds a scripted
// conversation, one round of calls then the end.
func ExampleMux_Tool() {
	getWeather := func(ctx context.Context, call *core.ToolCall) (any, error) {
		var args struct {
			City string `json:"city"`
		}
		if err := json.Unmarshal(call.Args, &args); err != nil {
			return nil, err // sent to the model as is_error
		}
		fmt.Println("tool: get_weather", args.City, "call", call.CallID)
		return map[string]any{"city": args.City, "temp_c": 21}, nil
	}
	done := func(ctx context.Context, ev *core.Event) error {
		j, _ := jobs.JobOf(ctx)
		fmt.Println("completed: conversation", j.Conversation, "round", j.Round, "ticket", j.UserMetadata["ticket"])
		return nil
	}
	mux := core.NewMux().
		Tool("get_weather", getWeather).
		On(core.InteractionCompleted, done)

	k, err := webhooktest.Start(mux)
	if err != nil {
		panic(err)
	}
	defer k.Close()
	k.API.AddConversation("weather1", geminitest.Conversation{
		Model: "gemini-3-flash-preview", UserMetadata: map[string]any{"ticket": "T-7"},
		Rounds: []geminitest.Round{
			{Calls: []geminitest.Call{{ID: "call_1", Name: "get_weather", Args: map[string]any{"city": "Paris"}}}},
			{}, // the model answers: completed
		},
	})

	ev := webhooktest.InteractionRequiresAction("interactions/weather1").WithUserMetadata(map[string]any{"ticket": "T-7"})
	fmt.Println(k.Deliver(ev).Status)
	fmt.Println(k.Deliver(ev).Outcome) // Gemini's retry: nothing runs again
	next := k.API.Continuations()[0]
	fmt.Printf("continued as %s with %+v\n", next.ID, next.Results)
	fmt.Println(k.Deliver(webhooktest.InteractionCompleted("interactions/" + next.ID)).Status)
	// Output:
	// tool: get_weather Paris call call_1
	// 200
	// duplicate
	// continued as weather1_c1 with [{CallID:call_1 Name:get_weather Result:{"city":"Paris","temp_c":21} IsError:false}]
	// completed: conversation interactions/weather1 round 2 ticket T-7
	// 200
}
