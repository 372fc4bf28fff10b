package gemini_test

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/geminiwebhooks/receiver/adapters/gemini"
)

func ExampleBatchLines() {
	results := strings.NewReader(`{"key":"q1","response":{"candidates":[{"content":{"parts":[{"text":"Paris"}],"role":"model"}}]}}
{"key":"q2","error":{"code":429,"message":"quota"}}
`)
	for line, err := range gemini.BatchLines(results) {
		if err != nil {
			fmt.Println("error:", err)
			break
		}
		if line.Error != nil {
			fmt.Println(line.Key, "failed:", line.Error.Message)
			continue
		}
		fmt.Println(line.Key, "answered:", line.Response.Text())
	}
	// Output:
	// q1 answered: Paris
	// q2 failed: quota
}

// Lines come one at a time from a stream that is never held whole, and a
// bad line stops the iteration with its line number.
func TestBatchLinesStreams(t *testing.T) {
	const lines = 20000
	line := `{"key":"k","response":{"candidates":[{"content":{"parts":[{"text":"` + strings.Repeat("x", 200) + `"}]}}]}}` + "\n"
	r := io.LimitReader(&repeat{s: line}, int64(len(line)*lines))
	n := 0
	for l, err := range gemini.BatchLines(r) {
		if err != nil {
			t.Fatal(err)
		}
		if l.Key != "k" || len(l.Response.Text()) != 200 {
			t.Fatalf("line %d: %+v", n, l)
		}
		n++
	}
	if n != lines {
		t.Fatalf("%d lines, want %d", n, lines)
	}
	bad := gemini.BatchLines(strings.NewReader("{\"key\":\"a\"}\n\nnot json\n"))
	var errs []string
	for _, err := range bad {
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) != 1 || !strings.Contains(errs[0], "line 3") {
		t.Fatalf("errors %q, want one naming line 3", errs)
	}
}

// repeat yields s forever.
type repeat struct {
	s   string
	off int
}

func (r *repeat) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.s[r.off:])
		n += c
		r.off = (r.off + c) % len(r.s)
	}
	return n, nil
}
