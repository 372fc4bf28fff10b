// Command slowhandler is a user's local server whose one handler takes
// HANDLER_SLEEP (a user's API call) and appends a line to RUNS_FILE when it
// starts and when it ends: "start|end <RUN> <webhook id>", RUN being the
// value of the variable of that name. The crash test of the local queue
// builds it (TestKilledDuringBacklog); a delivery whose id is POISON_ID
// records its start and, halfway through HANDLER_SLEEP, takes the process
// down (SIGKILL to itself).
package main

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/local"
	"github.com/geminiwebhooks/receiver/core"
)

func main() {
	sleep, err := time.ParseDuration(os.Getenv("HANDLER_SLEEP"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "slowhandler: HANDLER_SLEEP:", err)
		os.Exit(2)
	}
	// O_APPEND: each line is one write(2), whole even with other writers.
	runs, err := os.OpenFile(os.Getenv("RUNS_FILE"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, "slowhandler: RUNS_FILE:", err)
		os.Exit(2)
	}
	run, poison := os.Getenv("RUN"), os.Getenv("POISON_ID")
	local.Main(core.NewMux().Default(func(ctx context.Context, ev *core.Event) error {
		if _, err := fmt.Fprintf(runs, "start %s %s\n", run, ev.Delivery.ID); err != nil {
			return err
		}
		if ev.Delivery.ID == poison {
			time.Sleep(sleep / 2) // the others that started with it run
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
		select {
		case <-time.After(sleep):
		case <-ctx.Done():
			return ctx.Err()
		}
		_, err := fmt.Fprintf(runs, "end %s %s\n", run, ev.Delivery.ID)
		return err
	}))
}
