package jobs_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/geminiwebhooks/receiver/core/jobs"
)

func TestSummerCountsLines(t *testing.T) {
	for _, tc := range []struct {
		name              string
		in                string
		lines, ok, failed int64
	}{
		{"empty", "", 0, 0, 0},
		{"one response, no final newline", `{"key":"a","response":{}}`, 1, 1, 0},
		{"error and response", "{\"response\":{}}\n{\"error\":{\"code\":3}}\n", 2, 1, 1},
		{"error wins over response", `{"response":{},"error":{}}` + "\n", 1, 0, 1},
		{"nested error key is not a failure", `{"response":{"candidates":[{"error":null}]}}` + "\n", 1, 1, 0},
		{"error in a string value is not a failure", `{"key":"error","response":{"text":"\"error\": yes"}}` + "\n", 1, 1, 0},
		{"escaped key is not ours", `{"err\u006fr":{}}` + "\n", 1, 0, 0},
		{"blank lines do not count", "\n  \n{\"response\":1}\n\r\n", 1, 1, 0},
		{"neither key", "{\"key\":\"x\"}\n[1,2]\n", 2, 0, 0},
		{"key after a nested object", `{"metadata":{"a":{"b":[1,{"c":2}]}},"error":{}}` + "\n", 1, 0, 1},
		{"long key", `{"responseXXXXXXXXXXXXXXXX":1}` + "\n", 1, 0, 0},
		{"runs of spaces around keys", "{" + strings.Repeat(" ", 17) + `"error"` + strings.Repeat(" ", 8) + ":1}\n" + strings.Repeat(" ", 23) + "\n{ \"response\":" + strings.Repeat(" ", 9) + "{}}\n", 2, 1, 1},
		{"spaces then a newline inside eight", "{\"error\":1}    \n   {\"response\":1}\n", 2, 1, 1},
	} {
		sha := sha256.Sum256([]byte(tc.in))
		for _, chunk := range []int{1, 3, 1 << 20} {
			s := jobs.NewSummer(true)
			if _, err := io.CopyBuffer(s, iotest.OneByteReader(strings.NewReader(tc.in)), make([]byte, chunk)); err != nil && chunk > 1 {
				t.Fatal(err)
			}
			if chunk == 1 {
				s = jobs.NewSummer(true)
				for i := 0; i < len(tc.in); i++ {
					s.Write([]byte{tc.in[i]})
				}
			}
			m := s.Manifest()
			if m.Lines != tc.lines || m.SucceededLines != tc.ok || m.FailedLines != tc.failed || m.Bytes != int64(len(tc.in)) || m.SHA256 != hex.EncodeToString(sha[:]) {
				t.Errorf("%s (chunks of %d): %+v, want lines %d ok %d failed %d", tc.name, chunk, m, tc.lines, tc.ok, tc.failed)
			}
		}
	}
}

// TestSummerBackground: the goroutine-fed Summer sees every byte, in order,
// whatever the sizes of the writes, and a second Close does nothing.
func TestSummerBackground(t *testing.T) {
	var in bytes.Buffer
	for i := range 3000 {
		fmt.Fprintf(&in, `{"key":"k%d",%s:{"text":"%s"}}%s`+"\n", i, map[bool]string{true: `"error"`, false: `"response"`}[i%7 == 0], strings.Repeat("x", i%500), strings.Repeat(" ", i%40))
	}
	want := jobs.NewSummer(true)
	want.Write(in.Bytes())
	for _, chunk := range []int{1, 4093, 1 << 20, 3 << 20} {
		s := jobs.NewSummer(true)
		bg := s.Background()
		if _, err := io.CopyBuffer(bg, bytes.NewReader(in.Bytes()), make([]byte, chunk)); err != nil {
			t.Fatal(err)
		}
		bg.Close()
		bg.Close()
		if got := s.Manifest(); got != want.Manifest() {
			t.Errorf("chunks of %d: %+v, want %+v", chunk, got, want.Manifest())
		}
	}
}

func TestSummerNoLinesForVideo(t *testing.T) {
	s := jobs.NewSummer(false)
	s.Write([]byte("{\"error\":1}\n\x00\x01"))
	if m := s.Manifest(); m.Lines != 0 || m.FailedLines != 0 || m.Bytes != 14 {
		t.Fatalf("%+v", m)
	}
}

func TestExactReader(t *testing.T) {
	data := []byte("0123456789")
	for _, tc := range []struct {
		name string
		want int64
		ok   bool
	}{{"exact", 10, true}, {"unknown size", -1, true}, {"short", 11, false}, {"long", 9, false}} {
		_, err := io.ReadAll(&jobs.ExactReader{R: bytes.NewReader(data), Want: tc.want})
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, jobs.ErrSizeMismatch)) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// BenchmarkSummer is the manifest's cost per byte of a batch output.
func BenchmarkSummer(b *testing.B) {
	for _, c := range []struct{ name, line string }{
		// most bytes inside a long string, as a model's answer
		{"text", `{"key":"req-1","response":{"candidates":[{"content":{"parts":[{"text":"` + strings.Repeat("lorem ipsum ", 150) + `"}],"role":"model"},"finishReason":"STOP"}]}}` + "\n"},
		// most bytes whitespace outside strings, as pretty-printed or padded output
		{"padded", `{"key":"req-1","response":{"candidates":[{"content":{"parts":[{"text":"short"}],"role":"model"},"finishReason":"STOP"}]}` + strings.Repeat(" ", 2048) + "}\n"},
	} {
		b.Run(c.name, func(b *testing.B) {
			buf := bytes.Repeat([]byte(c.line), (1<<20)/len(c.line))
			b.SetBytes(int64(len(buf)))
			s := jobs.NewSummer(true)
			for b.Loop() {
				s.Write(buf)
			}
		})
	}
}
