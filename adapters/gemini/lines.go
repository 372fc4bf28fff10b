package gemini

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"iter"

	"google.golang.org/genai"
)

// maxBatchLine bounds one line of a batch's results file; a longer line is
// an error, never a reason to buffer the file.
const maxBatchLine = 64 << 20

// BatchLine is one line of a batch's results file: the request's key and
// either the model's response or the line's error.
type BatchLine struct {
	Key      string                         `json:"key,omitempty"`
	Response *genai.GenerateContentResponse `json:"response,omitempty"`
	Error    *genai.JobError                `json:"error,omitempty"`
	// Raw is the line as it landed (valid until the next iteration).
	Raw json.RawMessage `json:"-"`
}

// BatchLines reads a batch's results file (JSONL) one typed line at a time,
// in memory bounded by the longest line whatever the file's size. Use it on
// what landed:
//
//	landed, err := jobs.Landed(ctx)
//	r, err := landed.Open(ctx)
//	defer r.Close()
//	for line, err := range gemini.BatchLines(r) { … }
//
// Blank lines are skipped; a line that is not JSON yields an error naming
// its number, and the iteration stops after the first error.
func BatchLines(r io.Reader) iter.Seq2[*BatchLine, error] {
	return func(yield func(*BatchLine, error) bool) {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 64<<10), maxBatchLine)
		n := 0
		for sc.Scan() {
			n++
			b := bytes.TrimSpace(sc.Bytes())
			if len(b) == 0 {
				continue
			}
			line := &BatchLine{Raw: b}
			if err := json.Unmarshal(b, line); err != nil {
				yield(nil, fmt.Errorf("results line %d: %w", n, err))
				return
			}
			if !yield(line, nil) {
				return
			}
		}
		if err := sc.Err(); err != nil {
			yield(nil, fmt.Errorf("results after line %d: %w", n, err))
		}
	}
}
