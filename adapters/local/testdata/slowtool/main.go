// Command slowtool is a user's local server with two agent tools: "quick"
// answers at once, "slow" takes TOOL_SLEEP. Each appends a line to
// RUNS_FILE when it starts ("start <RUN> <call id>") and "slow" when it
// ends ("end <RUN> <call id>"), RUN being the variable of that name. The
// crash test of the tools (TestToolsKilledDuringSlowTool) builds it and
// kills it during the slow tool.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/local"
	"github.com/geminiwebhooks/receiver/core"
)

func main() {
	sleep, err := time.ParseDuration(os.Getenv("TOOL_SLEEP"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "slowtool: TOOL_SLEEP:", err)
		os.Exit(2)
	}
	// O_APPEND: each line is one write(2).
	runs, err := os.OpenFile(os.Getenv("RUNS_FILE"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, "slowtool: RUNS_FILE:", err)
		os.Exit(2)
	}
	run := os.Getenv("RUN")
	local.Main(core.NewMux().
		Tool("quick", func(ctx context.Context, call *core.ToolCall) (any, error) {
			_, err := fmt.Fprintf(runs, "start %s %s\n", run, call.CallID)
			return "quick done", err
		}).
		Tool("slow", func(ctx context.Context, call *core.ToolCall) (any, error) {
			if _, err := fmt.Fprintf(runs, "start %s %s\n", run, call.CallID); err != nil {
				return nil, err
			}
			select {
			case <-time.After(sleep):
			case <-ctx.Done():
				return nil, fmt.Errorf("%w: %w", core.ErrRetry, ctx.Err())
			}
			_, err := fmt.Fprintf(runs, "end %s %s\n", run, call.CallID)
			return map[string]any{"slept": sleep.String()}, err
		}))
}
