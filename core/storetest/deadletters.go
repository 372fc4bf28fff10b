package storetest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/core"
)

// RunDeadLetters checks a core.DeadLetters: a letter comes back whole
// (a body of 1.6 MB too, over the item or document limit of the cloud
// stores, which split it), oldest first, limited; Put is idempotent per key
// and overwrites; Delete removes (an absent key is no error). open returns
// the instance that writes; other, another instance on the same records
// (the same one for a store in one process), which reads.
func RunDeadLetters(t *testing.T, open func(t *testing.T) (writer, reader core.DeadLetters)) {
	ctx := context.Background()
	s, r := open(t)
	t0 := time.Now().Truncate(time.Millisecond)
	big := bytes.Repeat([]byte("0123456789abcdef"), 100_000)
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
	got, err := r.ListDeadLetters(ctx, 0)
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
	if two, err := r.ListDeadLetters(ctx, 2); err != nil || len(two) != 2 || two[0].Key != "msg_small" || two[1].Key != "msg/big" {
		t.Fatalf("limit 2: %d letters, %v", len(two), err)
	}

	// Overwriting the big letter with a small body, then deleting it, leaves nothing behind.
	small := letters[1]
	small.Body = []byte("short")
	if err := s.PutDeadLetter(ctx, small); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.ListDeadLetters(ctx, 0); len(got) != 3 || string(got[1].Body) != "short" {
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
	if got, err := r.ListDeadLetters(ctx, 0); err != nil || len(got) != 0 {
		t.Fatalf("after delete: %d letters, %v", len(got), err)
	}
}
