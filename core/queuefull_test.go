package core_test

import (
	"context"
	"fmt"
	"testing"

	. "github.com/geminiwebhooks/receiver/core"
)

// fullQueue refuses every event, as a bounded queue at its limit does.
type fullQueue struct{}

func (fullQueue) Enqueue(context.Context, *Event) error {
	return fmt.Errorf("enqueue: %w", ErrQueueFull)
}

// A full queue is answered 503 "queue full" and the claim is released, so
// Gemini's retry is queued once there is room.
func TestQueueFullIs503(t *testing.T) {
	f := newFixture(t, func(o *ReceiverOptions) { o.Queue = fullQueue{} })
	body := `{"type":"batch.succeeded","version":"v1","data":{"id":"batches/q1"}}`
	rec, _ := f.do(f.signed(t, "msg_full", body))
	line := f.lastLog(t)
	if rec.Code != 503 || line["reason"] != "queue full" || line["outcome"] != string(OutcomeFailed) {
		t.Fatalf("%d %v, want 503 queue full", rec.Code, line)
	}
	if _, ok := f.store.Get("msg_full"); ok {
		t.Fatal("the claim was kept: Gemini's retry would be refused as in progress")
	}
}
