// Command counting is the bootstrap of the exactly-once tests under the
// Runtime Interface Emulator: a user's handler for batch.succeeded that
// appends "start <delivery id>" to RUNS_LOG when it begins and
// "done <delivery id>" when it ends, so the test counts every run of every
// process. A delivery whose id starts with HANG_PREFIX (when set) never
// ends: the test kills the process while it runs.
package main

import (
	"context"
	"os"
	"strings"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/lambda"
	"github.com/geminiwebhooks/receiver/core"
)

func main() {
	runs, hang := os.Getenv("RUNS_LOG"), os.Getenv("HANG_PREFIX")
	lambda.Start(core.NewMux().On(core.BatchSucceeded, func(ctx context.Context, ev *core.Event) error {
		id := ev.Delivery.ID
		if err := appendLine(runs, "start "+id); err != nil {
			return err
		}
		if hang != "" && strings.HasPrefix(id, hang) {
			time.Sleep(time.Hour) // the test SIGKILLs the process meanwhile
		}
		return appendLine(runs, "done "+id)
	}))
}

// appendLine writes one line with one write(2) on an O_APPEND file, so the
// lines of several processes never interleave.
func appendLine(path, line string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write([]byte(line + "\n")); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
