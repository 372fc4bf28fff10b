package lambdarie

import (
	"bufio"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

// startRE is the emulator's line opening an invocation.
var startRE = regexp.MustCompile(`START RequestId: ([0-9a-fA-F-]{36})`)

// TestInvocationLogsItsRequestID: under the Runtime Interface Emulator every
// line an invocation logs names its request id (the one the emulator
// reports in START RequestId), and AWS_LAMBDA_LOG_LEVEL filters lines (at
// ERROR the INFO delivery line of a processed delivery is not written).
func TestInvocationLogsItsRequestID(t *testing.T) {
	cases := []struct {
		name      string
		level     string
		wantLines bool // the processed delivery's INFO line is written
	}{
		{"default level", "", true},
		{"DEBUG", "DEBUG", true},
		{"ERROR", "ERROR", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{"IDEMPOTENCY_STORE": "memory", "WEBHOOK_SIGNING_SECRET": secretNew}
			if c.level != "" {
				env["AWS_LAMBDA_LOG_LEVEL"] = c.level
			}
			r := startRIE(t, env)
			now := time.Now()
			d := delivery{name: "logged", id: "msg_reqid_" + strings.ToLower(c.name[:1]), secret: secretNew, at: now}
			r.invoke(t, d.event(t, batchBody("reqid", now)))
			if !c.wantLines {
				// The emulator writes its END line after the function's
				// output: once it is there, everything the invocation logged is.
				waitFor(t, r, "END RequestId:")
				for _, l := range jsonLines(r.Stdout.String()) {
					if l["msg"] == "delivery" {
						t.Errorf("an INFO delivery line at AWS_LAMBDA_LOG_LEVEL=%s: %v", c.level, l)
					}
				}
				return
			}
			lines := waitForLines(t, r, 1)
			if len(lines) == 0 {
				t.Fatalf("no delivery line:\n%s", r.Stdout)
			}
			all := r.Stdout.String() + r.Svc.LogText()
			m := startRE.FindStringSubmatch(all)
			if m == nil {
				t.Fatalf("no START RequestId from the emulator:\n%s", all)
			}
			n := 0
			for _, l := range jsonLines(r.Stdout.String()) {
				if l["msg"] != "delivery" {
					continue
				}
				n++
				if l["requestId"] != m[1] {
					t.Errorf("delivery line requestId %v, want the emulator's %s: %v", l["requestId"], m[1], l)
				}
			}
			if n != 1 {
				t.Errorf("%d delivery lines, want 1", n)
			}
		})
	}
}

func jsonLines(s string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// waitFor returns once the emulator's output holds s (it may forward output
// slightly after the answer).
func waitFor(t *testing.T, r rie, s string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(r.Stdout.String()+r.Svc.LogText(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the emulator's output:\nstdout:\n%s\nstderr:\n%s", s, r.Stdout, r.Svc.LogText())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
