// Package sinktest has what the sinks' tests share.
package sinktest

import (
	"io"
	"sync"
)

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
