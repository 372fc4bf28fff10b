package jobs

import "sync"

// summingChunk is the size of the buffers Background hands to its goroutine:
// the sink's copy buffer, so a large read is one hand-off.
const summingChunk = 1 << 20

// summingBuffers bounds the bytes in flight between the download and the
// hash (peak memory per landing: summingBuffers × summingChunk).
const summingBuffers = 3

// Background returns a writer that feeds s from a goroutine of its own, so
// that SHA-256 and the line scan of a landing overlap its download and the
// sink's write instead of adding to them. Its bytes are copied (a reader's
// buffer is reused as soon as Write returns) into at most summingBuffers
// chunks; Write blocks while all are in use. Close waits until s has seen
// every byte; call it, on every path, before s.Manifest.
func (s *summer) Background() *summing {
	b := &summing{s: s, full: make(chan []byte, summingBuffers), free: make(chan []byte, summingBuffers)}
	for range summingBuffers {
		b.free <- make([]byte, 0, summingChunk)
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for chunk := range b.full {
			_, _ = s.Write(chunk) // Summer.Write never fails
			b.free <- chunk[:0]
		}
	}()
	return b
}

// summing is the writer Summer.Background returns.
type summing struct {
	s       *summer
	cur     []byte // being filled; nil when none is taken
	full    chan []byte
	free    chan []byte
	wg      sync.WaitGroup
	closeMu sync.Once
}

// Write copies p into chunks and hands each full one to the goroutine.
func (b *summing) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if b.cur == nil {
			b.cur = <-b.free
		}
		k := copy(b.cur[len(b.cur):cap(b.cur)], p)
		b.cur, p = b.cur[:len(b.cur)+k], p[k:]
		if len(b.cur) == cap(b.cur) {
			b.full <- b.cur
			b.cur = nil
		}
	}
	return n, nil
}

// Close hands over the last chunk and waits for the goroutine; a second
// Close does nothing.
func (b *summing) Close() error {
	b.closeMu.Do(func() {
		if len(b.cur) > 0 {
			b.full <- b.cur
		}
		b.cur = nil
		close(b.full)
		b.wg.Wait()
	})
	return nil
}
