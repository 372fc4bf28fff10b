package core_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/geminiwebhooks/receiver/core"
)

// Several handlers per event type run in registration order; "batch.completed"
// is batch.succeeded; a type with no handler is accepted.
func ExampleMux_On() {
	mux := core.NewMux().
		On(core.BatchSucceeded,
			func(ctx context.Context, ev *core.Event) error {
				fmt.Println("load results of", ev.JobID())
				return nil
			},
			func(ctx context.Context, ev *core.Event) error {
				fmt.Println("next step after", ev.Delivery.ID)
				return nil
			}).
		On(core.InteractionRequiresAction, func(ctx context.Context, ev *core.Event) error { return nil })

	ev, _ := core.ParseEvent([]byte(`{"type":"batch.completed","version":"v1","data":{"id":"batches/b1"}}`))
	ev.Delivery.ID = "msg_1"
	fmt.Println(mux.Process(context.Background(), ev))
	// Output:
	// load results of batches/b1
	// next step after msg_1
	// <nil>
}

// Middleware wraps every event's handlers; the built-in actions (ledger,
// landing, notices) are put before a user's handlers this way. A failing or
// panicking handler fails the delivery, which Gemini then retries.
func ExampleMux_Use() {
	mux := core.NewMux().
		Use(func(next core.HandlerFunc) core.HandlerFunc {
			return func(ctx context.Context, ev *core.Event) error {
				fmt.Println("before", ev.Type)
				return next(ctx, ev)
			}
		}).
		On(core.BatchFailed, func(context.Context, *core.Event) error { panic("boom") })

	ev, _ := core.ParseEvent([]byte(`{"type":"batch.failed","version":"v1","data":{"id":"batches/b2"}}`))
	err := mux.Process(context.Background(), ev)
	fmt.Println(errors.Is(err, core.ErrHandlerPanic))
	// Output:
	// before batch.failed
	// true
}

// A type outside the catalogue is refused where it is registered, as
// http.ServeMux refuses a bad pattern, instead of leaving the handler
// silent; OnNewType registers a type Gemini added after this release.
func ExampleMux_OnNewType() {
	save := func(ctx context.Context, ev *core.Event) error {
		fmt.Println("handled", ev.Type)
		return nil
	}
	func() {
		defer func() { fmt.Println("refused:", recover() != nil) }()
		core.NewMux().On("batch.success", save) // a typo of batch.succeeded
	}()

	mux := core.NewMux().OnNewType("video.upscaled", save)
	ev, _ := core.ParseEvent([]byte(`{"type":"video.upscaled","version":"v1","data":{}}`))
	fmt.Println(mux.Process(context.Background(), ev))
	// Output:
	// refused: true
	// handled video.upscaled
	// <nil>
}
