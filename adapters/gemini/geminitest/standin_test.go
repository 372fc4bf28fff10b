package geminitest

import (
	"bufio"
	"encoding/json"
	"io"
	"testing"
)

// The generator makes exactly the size asked, valid JSON lines, and counts
// them the way Expect reports (checked here with encoding/json, not with the
// receiver's scanner).
func TestGeneratorIsExactAndValid(t *testing.T) {
	for _, size := range []int64{37, 38, 100, 2300, 5000, 1 << 20, 1<<20 + 17} {
		f := File{Name: "files/g", MIMEType: "application/jsonl", Size: size, Seed: 3}
		e := Expect(f)
		if e.Bytes != size {
			t.Fatalf("size %d: generated %d bytes", size, e.Bytes)
		}
		sc := bufio.NewScanner(Content(f))
		sc.Buffer(make([]byte, 4<<20), 4<<20)
		var lines, ok, failed int64
		for sc.Scan() {
			var m map[string]json.RawMessage
			if len(sc.Bytes()) == 0 {
				continue
			}
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				if size == 37 {
					continue // too small for a line: spaces
				}
				t.Fatalf("size %d: line %d is not JSON: %v", size, lines+1, err)
			}
			lines++
			if _, isErr := m["error"]; isErr {
				failed++
			} else if _, isResp := m["response"]; isResp {
				ok++
			}
		}
		if lines != e.Lines || ok != e.SucceededLines || failed != e.FailedLines {
			t.Fatalf("size %d: json says %d/%d/%d, Expect %+v", size, lines, ok, failed, e)
		}
		if size > 1<<19 && (e.FailedLines == 0 || e.SucceededLines == 0) {
			t.Fatalf("size %d: want both kinds of line, got %+v", size, e)
		}
	}
	// Binary content is exact too.
	n, _ := io.Copy(io.Discard, Content(File{MIMEType: "video/mp4", Size: 100_001}))
	if n != 100_001 {
		t.Fatalf("video: %d bytes", n)
	}
}
