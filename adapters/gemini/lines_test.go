package gemini_test

import (
	"bufio"
	"fmt"
	"io"
	"runtime"
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

// BenchmarkBatchLines reads a 300 MiB results file of 1 KiB lines through
// BatchLines ("typed") and, as the bare floor, through a bufio.Scanner that
// only splits lines ("scan"): MB/s of each, and the peak heap in use while
// reading, which stays flat whatever the file's size.
//
//	go test ./adapters/gemini -run '^$' -bench BatchLines -benchtime 1x
func BenchmarkBatchLines(b *testing.B) {
	line := `{"key":"request-000001","response":{"candidates":[{"content":{"parts":[{"text":"` + strings.Repeat("lorem ipsum ", 75) + `"}],"role":"model"},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":12,"candidatesTokenCount":200}}}` + "\n"
	size := int64(300<<20) / int64(len(line)) * int64(len(line)) // whole lines
	for _, mode := range []string{"scan", "typed"} {
		b.Run(mode, func(b *testing.B) {
			b.SetBytes(size)
			var peak uint64
			var ms runtime.MemStats
			sample := func() {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
			}
			for b.Loop() {
				r := io.LimitReader(&repeat{s: line}, size)
				n := 0
				if mode == "scan" {
					sc := bufio.NewScanner(r)
					for sc.Scan() {
						if n++; n%50000 == 0 {
							sample()
						}
					}
					continue
				}
				for l, err := range gemini.BatchLines(r) {
					if err != nil || l.Response == nil {
						b.Fatalf("line %d: %v", n, err)
					}
					if n++; n%50000 == 0 {
						sample()
					}
				}
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		})
	}
}
