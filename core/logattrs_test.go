package core_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	. "github.com/geminiwebhooks/receiver/core"
)

// What the actions add goes on the delivery's one line: the last value of a
// key wins, and nothing else is logged.
func TestActionsAttrsOnTheDeliveryLine(t *testing.T) {
	f := newFixture(t, nil)
	f.process = func(ctx context.Context, ev *Event) error {
		AddLineAttrs(ctx, slog.String("job_state", "running"), slog.String("landing", "pending"))
		AddLineAttrs(ctx, slog.String("job_state", "succeeded"), slog.Int64("bytes", 42))
		return nil
	}
	body := `{"type":"batch.succeeded","version":"v1","data":{"id":"batches/l1"}}`
	if rec, _ := f.do(f.signed(t, "msg_line", body)); rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	if n := strings.Count(f.logs.String(), "\n"); n != 1 {
		t.Fatalf("%d log lines, want 1:\n%s", n, f.logs)
	}
	line := f.lastLog(t)
	for k, want := range map[string]any{"msg": "delivery", "job_state": "succeeded", "landing": "pending", "bytes": 42.0, "outcome": "processed"} {
		if line[k] != want {
			t.Errorf("%s = %v, want %v in %v", k, line[k], want, line)
		}
	}
	AddLineAttrs(context.Background(), slog.Bool("ignored", true)) // no line: nothing happens
}
