// Command server is functions/local as the load test runs it: the same
// local.Main, with one middleware that counts the events processed and
// writes the count to $LOADTEST_PROCESSED_FILE every few milliseconds.
//
// The count is how the load test knows when the file store's worker has
// finished what the receiver queued (202): the worker logs nothing per
// successful task, and asking the admin listener for the queue's listing
// would cost the server work proportional to the backlog. An atomic add
// per event, like a user's handler, is all it adds to the path measured.
//
// With $LOADTEST_CPUPROFILE it writes a CPU profile of its whole life
// there (go tool pprof reads it) when it stops on SIGTERM.
package main

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/local"
	"github.com/geminiwebhooks/receiver/core"
)

func main() {
	mux := core.NewMux()
	if path := os.Getenv("LOADTEST_PROCESSED_FILE"); path != "" {
		var n atomic.Int64
		mux.Use(func(next core.HandlerFunc) core.HandlerFunc {
			return func(ctx context.Context, ev *core.Event) error {
				err := next(ctx, ev)
				if err == nil {
					n.Add(1)
				}
				return err
			}
		})
		go publish(path, &n)
	}
	if path := os.Getenv("LOADTEST_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "LOADTEST_CPUPROFILE:", err)
			os.Exit(1)
		}
		// local.Main returns once a SIGTERM has shut the server down.
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	local.Main(mux)
}

// publish keeps path holding n, in decimal, padded to a fixed width so that
// each write replaces the whole previous value in place.
func publish(path string, n *atomic.Int64) {
	f, err := os.Create(path)
	if err != nil {
		return
	}
	last := int64(-1)
	for range time.Tick(10 * time.Millisecond) {
		if v := n.Load(); v != last {
			b := []byte(strconv.FormatInt(v, 10))
			pad := make([]byte, 20-len(b))
			for i := range pad {
				pad[i] = ' '
			}
			if _, err := f.WriteAt(append(pad, b...), 0); err == nil {
				last = v
			}
		}
	}
}
