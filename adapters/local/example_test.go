package local_test

import (
	"context"
	"fmt"

	"github.com/geminiwebhooks/receiver/adapters/local"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

// A user's main: the local server (and its admin subcommands) running the
// user's handlers behind the built-in actions.
func ExampleMain() {
	local.Main(core.NewMux().On(core.BatchSucceeded, func(ctx context.Context, ev *core.Event) error {
		if job, ok := jobs.JobOf(ctx); ok {
			fmt.Println(job.ID, job.State, job.Landing)
		}
		return nil
	}))
}
