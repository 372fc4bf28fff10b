package firestore

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"google.golang.org/api/iterator"

	"github.com/geminiwebhooks/receiver/core"
)

func TestDeadLetters(t *testing.T) {
	s := open(t, newConfig(t))
	ctx := context.Background()
	t0 := time.Now().Truncate(time.Millisecond)
	big := bytes.Repeat([]byte("0123456789abcdef"), 100_000) // 1.6 MB: over a document's 1 MiB
	letters := []core.DeadLetter{
		{Key: "msg_small", Scheme: core.SchemeStatic, Reason: "not json", Body: []byte("{nope"), ReceivedAt: t0},
		{Key: "msg/big", Scheme: core.SchemeDynamic, EventType: "batch.x", Reason: "version v9", Body: big, ReceivedAt: t0.Add(time.Second), Attempts: 3},
		{Key: "msg_empty", Scheme: core.SchemeStatic, Reason: "empty", ReceivedAt: t0.Add(2 * time.Second)},
	}
	for _, d := range letters {
		if err := s.PutDeadLetter(ctx, d); err != nil {
			t.Fatalf("put %s: %v", d.Key, err)
		}
	}
	// Put is idempotent per key: the same letter again changes nothing.
	if err := s.PutDeadLetter(ctx, letters[1]); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListDeadLetters(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(letters) {
		t.Fatalf("listed %d, want %d", len(got), len(letters))
	}
	for i, d := range letters {
		g := got[i]
		if g.Key != d.Key || g.Scheme != d.Scheme || g.EventType != d.EventType || g.Reason != d.Reason ||
			!bytes.Equal(g.Body, d.Body) || !g.ReceivedAt.Equal(d.ReceivedAt) || g.Attempts != d.Attempts {
			t.Errorf("letter %d: got %s (%d bytes), want %s (%d bytes)", i, g.Key, len(g.Body), d.Key, len(d.Body))
		}
	}
	if two, err := s.ListDeadLetters(ctx, 2); err != nil || len(two) != 2 || two[0].Key != "msg_small" {
		t.Fatalf("limit 2: %d letters, %v", len(two), err)
	}

	// Overwriting the big letter with a small body, then deleting it, leaves nothing behind.
	small := letters[1]
	small.Body = []byte("short")
	if err := s.PutDeadLetter(ctx, small); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ListDeadLetters(ctx, 0); len(got) != 3 || string(got[1].Body) != "short" {
		t.Fatalf("after overwrite: %+v", got)
	}
	for _, d := range letters {
		if err := s.DeleteDeadLetter(ctx, d.Key); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteDeadLetter(ctx, "msg_never"); err != nil {
		t.Fatalf("deleting an absent letter: %v", err)
	}
	if got, err := s.ListDeadLetters(ctx, 0); err != nil || len(got) != 0 {
		t.Fatalf("after delete: %d letters, %v", len(got), err)
	}
	chunks := s.deadLetters.Doc(docID("msg/big")).Collection(chunkCollection).DocumentRefs(ctx)
	if _, err := chunks.Next(); !errors.Is(err, iterator.Done) {
		t.Fatalf("chunks left after delete: %v", err)
	}
}

// A verified body that is not a v1 envelope is kept once and answered 200;
// its redelivery is a duplicate.
func TestHandlerDeadLetter(t *testing.T) {
	s := open(t, newConfig(t))
	var cnt counter
	h := newHandler(t, core.ReceiverOptions{Store: s, Processor: cnt.router()})
	ctx := context.Background()
	body := []byte(`{"type":"batch.succeeded","version":"v7","data":{}}`)
	if r := h.Handle(ctx, signed(t, "msg_dl", time.Now(), body)); r.Status != http.StatusOK || r.Outcome != core.OutcomeDeadLetter {
		t.Fatalf("first: %d %s", r.Status, r.Outcome)
	}
	if r := h.Handle(ctx, signed(t, "msg_dl", time.Now(), body)); r.Status != http.StatusOK || r.Outcome != core.OutcomeDuplicate {
		t.Fatalf("again: %d %s", r.Status, r.Outcome)
	}
	got, err := s.ListDeadLetters(ctx, 0)
	if err != nil || len(got) != 1 || got[0].Key != "msg_dl" || !bytes.Equal(got[0].Body, body) {
		t.Fatalf("dead letters %+v %v", got, err)
	}
}
