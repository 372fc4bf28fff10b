// Package sinktest has what the sinks' tests share: the conformance suite
// every sink runs (Run) and a reader caught mid-stream (Gated).
package sinktest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

// ErrCut ends a source part-way, as a cut download does.
var ErrCut = errors.New("connection cut")

// cutAfter yields n bytes of r, then fails with ErrCut.
func cutAfter(r io.Reader, n int64) io.Reader {
	return io.MultiReader(io.LimitReader(r, n), iotest.ErrReader(ErrCut))
}

// Run is what every sink must do: a Put lands byte for byte (also past one
// upload chunk), replaces an earlier landing rather than adding a copy, a
// Put whose source fails leaves nothing (and an earlier landing intact),
// Open fails with core.ErrNotFound for what is absent, and keys that could
// leave the sink's root are refused.
func Run(t *testing.T, s jobs.Sink) {
	ctx := context.Background()
	big := bytes.Repeat([]byte("0123456789abcdef\n"), (10<<20)/17) // over one upload chunk
	uri, err := s.Put(ctx, "batches/a/results.jsonl", bytes.NewReader(big), "application/jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if uri != s.URI("batches/a/results.jsonl") {
		t.Fatalf("uri %s", uri)
	}
	got, err := jobs.ReadSmall(ctx, s, "batches/a/results.jsonl", 20<<20)
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("landed %d bytes, want %d: %v", len(got), len(big), err)
	}
	if _, err := s.Put(ctx, "batches/a/results.jsonl", strings.NewReader("v2\n"), "application/jsonl"); err != nil {
		t.Fatal(err)
	}
	if got, _ := jobs.ReadSmall(ctx, s, "batches/a/results.jsonl", 100); string(got) != "v2\n" {
		t.Fatalf("after replace: %q", got)
	}
	if _, err = s.Put(ctx, "batches/b/results.jsonl", cutAfter(bytes.NewReader(big), 9<<20), "application/jsonl"); !errors.Is(err, ErrCut) {
		t.Fatalf("put from a failing source: %v", err)
	}
	if _, err := jobs.ReadSmall(ctx, s, "batches/b/results.jsonl", 20<<20); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("a failed put left something: %v", err)
	}
	if _, err = s.Put(ctx, "batches/a/results.jsonl", cutAfter(bytes.NewReader(big), 100), "application/jsonl"); !errors.Is(err, ErrCut) {
		t.Fatal(err)
	}
	if got, _ := jobs.ReadSmall(ctx, s, "batches/a/results.jsonl", 100); string(got) != "v2\n" {
		t.Fatalf("a failed replace changed the object: %q", got)
	}
	if _, err := jobs.ReadSmall(ctx, s, "batches/a/results.jsonl", 2); err == nil {
		t.Fatal("ReadSmall ignored its limit")
	}
	for _, bad := range []string{"", "/abs", "a/../b", "a//b", "."} {
		if _, err := s.Put(ctx, bad, strings.NewReader("x"), ""); err == nil {
			t.Errorf("key %q accepted", bad)
		}
	}
}

// Gated is a reader that closes Reading on its first Read, then blocks
// until Open is closed: a writer caught mid-stream.
type Gated struct {
	Reading, Open chan struct{}
	once          sync.Once
	R             io.Reader
}

// NewGated gates r.
func NewGated(r io.Reader) *Gated {
	return &Gated{Reading: make(chan struct{}), Open: make(chan struct{}), R: r}
}

// Read reads from R once Open is closed.
func (g *Gated) Read(p []byte) (int, error) {
	g.once.Do(func() { close(g.Reading) })
	<-g.Open
	return g.R.Read(p)
}
