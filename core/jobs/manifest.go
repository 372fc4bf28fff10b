package jobs

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
)

// ErrSizeMismatch: a download's length differs from the file's metadata.
var ErrSizeMismatch = errors.New("download size differs from the file's metadata")

// exactReader fails instead of reporting EOF when R ends after other than
// Want bytes (Want < 0: any length), so a sink never commits a short or
// long copy.
type exactReader struct {
	R    io.Reader
	Want int64
	n    int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	n, err := e.R.Read(p)
	e.n += int64(n)
	if e.Want >= 0 && e.n > e.Want {
		return n, fmt.Errorf("%w: more than %d bytes", ErrSizeMismatch, e.Want)
	}
	if err == io.EOF && e.Want >= 0 && e.n != e.Want {
		return n, fmt.Errorf("%w: got %d bytes, want %d", ErrSizeMismatch, e.n, e.Want)
	}
	return n, err
}

// summer computes a manifest's numbers from the bytes written to it, in
// constant memory: length, SHA-256 and, for JSON lines, the count of lines
// and of lines whose top-level object has an "error" key (failed) or a
// "response" key (succeeded). It never holds a line, however long.
type summer struct {
	countLines bool
	h          hash.Hash
	bytes      int64

	lines, ok, failed int64
	// the scanner of the current line
	nonEmpty, hasErr, hasResp bool
	depth                     int
	topObject, expectKey      bool
	inStr, esc, collecting    bool
	key                       [8]byte
	keyLen                    int // > len(key): too long to matter
}

// newSummer counts lines when jsonl is set (batch outputs).
func newSummer(jsonl bool) *summer { return &summer{countLines: jsonl, h: sha256.New()} }

func (s *summer) Write(p []byte) (int, error) {
	s.h.Write(p)
	s.bytes += int64(len(p))
	if s.countLines {
		s.scan(p)
	}
	return len(p), nil
}

func (s *summer) scan(p []byte) {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if s.inStr && !s.collecting && !s.esc {
			// Skip the body of a string in one step: most bytes of a
			// batch output are inside strings.
			j := nextSpecial(p[i:])
			if j < 0 {
				return
			}
			i += j
			c = p[i]
		}
		if !s.inStr && quiet[c] {
			// Skip a run of bytes that change nothing outside a string
			// (spaces, digits, letters of true/false/null, ':') in one
			// tight loop: pretty-printed or padded lines are mostly these.
			j := skipSpaces(p, i+1)
			for j < len(p) && quiet[p[j]] {
				j++
			}
			if !s.nonEmpty && len(bytes.Trim(p[i:j], " \t\r")) > 0 {
				s.nonEmpty = true
			}
			if j == len(p) {
				return
			}
			i, c = j, p[j]
		}
		if c == '\n' {
			s.endLine()
			continue
		}
		if s.inStr {
			switch {
			case s.esc:
				s.esc = false
				s.keyLen = len(s.key) + 1 // keys we look for have no escapes
			case c == '\\':
				s.esc = true
			case c == '"':
				s.inStr = false
				if s.collecting {
					s.collecting = false
					s.sawKey()
				}
			case s.collecting:
				if s.keyLen < len(s.key) {
					s.key[s.keyLen] = c
				}
				s.keyLen++
			}
			continue
		}
		switch c {
		case ' ', '\t', '\r':
			continue
		case '{', '[':
			s.depth++
			if s.depth == 1 {
				s.topObject = c == '{'
				s.expectKey = s.topObject
			}
		case '}', ']':
			s.depth--
		case ',':
			if s.depth == 1 && s.topObject {
				s.expectKey = true
			}
		case '"':
			s.inStr = true
			if s.depth == 1 && s.topObject && s.expectKey {
				s.collecting, s.keyLen, s.expectKey = true, 0, false
			}
		}
		s.nonEmpty = true
	}
}

func (s *summer) sawKey() {
	if s.keyLen > len(s.key) {
		return
	}
	switch string(s.key[:s.keyLen]) {
	case "error":
		s.hasErr = true
	case "response":
		s.hasResp = true
	}
}

func (s *summer) endLine() {
	if s.nonEmpty {
		s.lines++
		switch {
		case s.hasErr:
			s.failed++
		case s.hasResp:
			s.ok++
		}
	}
	*s = summer{countLines: s.countLines, h: s.h, bytes: s.bytes, lines: s.lines, ok: s.ok, failed: s.failed}
}

// Manifest returns the numbers so far; a last line without a newline counts.
func (s *summer) Manifest() Manifest {
	t := *s
	if t.countLines {
		t.endLine()
	}
	return Manifest{
		Bytes: t.bytes, SHA256: hex.EncodeToString(s.h.Sum(nil)),
		Lines: t.lines, SucceededLines: t.ok, FailedLines: t.failed,
	}
}

// quiet marks the bytes that, outside a string, change nothing the scan
// tracks: all but the structural ones, the quote and the newline.
var quiet = func() (q [256]bool) {
	for c := range q {
		q[c] = true
	}
	for _, c := range []byte("\"{}[],\n") {
		q[c] = false
	}
	return q
}()

// skipSpaces is the index of the first byte at or after i that does not
// begin eight spaces, read eight bytes at a time: padded and pretty-printed
// lines are mostly runs of spaces, which a byte loop crawls through.
func skipSpaces(p []byte, i int) int {
	const spaces = 0x2020202020202020
	for i+8 <= len(p) && binary.LittleEndian.Uint64(p[i:]) == spaces {
		i += 8
	}
	return i
}

// nextSpecial is the index of the first '"', '\\' or '\n' in p (-1: none),
// found with IndexByte, which is vectorised, unlike IndexAny.
func nextSpecial(p []byte) int {
	end := bytes.IndexByte(p, '"')
	seg := p
	if end >= 0 {
		seg = p[:end]
	}
	for _, c := range []byte{'\\', '\n'} {
		if k := bytes.IndexByte(seg, c); k >= 0 {
			seg, end = seg[:k], k
		}
	}
	return end
}
