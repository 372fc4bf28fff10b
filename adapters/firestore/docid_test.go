package firestore

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/core"
)

func TestDocID(t *testing.T) {
	long := strings.Repeat("x/", 800)
	tests := []struct {
		key, want string
	}{
		{"msg_p5jXN8AQM9LWM0D4loKWxJek", "msg_p5jXN8AQM9LWM0D4loKWxJek"},
		{"3f2a-uuid-like-0001", "3f2a-uuid-like-0001"},
		{"a/b", "a~2Fb"},
		{"/", "~2F"},
		{".", "~2E"},
		{"..", "~2E~2E"},
		{"__name__", "~5F_name__"},
		{"_x_", "_x_"},
		{"~", "~7E"},
		{"~2F", "~7E2F"},
		{"a.b:c", "a~2Eb~3Ac"},
		{"", "~"},
	}
	for _, tt := range tests {
		if got := docID(tt.key); got != tt.want {
			t.Errorf("DocID(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
	if got := docID(long); !strings.HasPrefix(got, "~h") || len(got) != 66 {
		t.Errorf("DocID(long) = %q, want ~h + 64 hex", got)
	}
}

// Every id a verifier can accept (printable ASCII, up to 256 bytes) and then
// some must map to a legal, distinct document id.
func TestDocIDLegalAndInjective(t *testing.T) {
	reserved := regexp.MustCompile(`^__.*__$`)
	seen := map[string]string{}
	var keys []string
	for c := 0x21; c <= 0x7e; c++ {
		keys = append(keys, string(rune(c)), "a"+string(rune(c))+"b", strings.Repeat(string(rune(c)), 2))
	}
	keys = append(keys, "__", "___", "__a__", strings.Repeat("/", 256), strings.Repeat("~", 600), strings.Repeat("é", 400))
	for _, k := range keys {
		id := docID(k)
		if strings.Contains(id, "/") || id == "." || id == ".." || reserved.MatchString(id) || len(id) > 1500 || id == "" {
			t.Errorf("DocID(%q) = %q is not a legal document id", k, id)
		}
		if prev, ok := seen[id]; ok && prev != k {
			t.Errorf("DocID(%q) = DocID(%q) = %q", k, prev, id)
		}
		seen[id] = k
	}
}

// Awkward ids work end to end against the emulator, each its own record.
func TestAwkwardIDsAgainstEmulator(t *testing.T) {
	s := open(t, newConfig(t))
	ctx := context.Background()
	now := time.Now()
	keys := []string{"a/b/c", "..", "__x__", "a~2Fb", "a/b", strings.Repeat("k/", 300)}
	for i, k := range keys {
		c := core.Claim{Key: k, Owner: "o", BodyHash: core.HashBody([]byte(k)), Now: now, LeaseUntil: now.Add(time.Minute)}
		got, err := s.Claim(ctx, c)
		if err != nil || got != core.Claimed {
			t.Fatalf("claim %d %q: %v %v", i, k, got, err)
		}
	}
	for _, k := range keys {
		rec, err := s.Get(ctx, k)
		if err != nil || rec == nil || rec.BodyHash != core.HashBody([]byte(k)) {
			t.Fatalf("get %q: %+v %v", k, rec, err)
		}
	}
}
