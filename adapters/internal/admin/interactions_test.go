package admin_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/geminiwebhooks/receiver/adapters/gemini/geminitest"
	"github.com/geminiwebhooks/receiver/adapters/internal/admin"
)

// Issue 23: interactions start creates the interaction through the SDK
// against the stand-in (GOOGLE_GEMINI_BASE_URL) in the background,
// stored, with webhook_config's uris from RECEIVER_URL and the --metadata,
// the declared tools and the model, and prints its id and what comes next;
// a mistake is refused before any call.
func TestInteractionsStart(t *testing.T) {
	dir := t.TempDir()
	decl := filepath.Join(dir, "tools.json")
	if err := os.WriteFile(decl, []byte(`[{"name":"get_weather","description":"the weather in a city","parameters":{"type":"object","properties":{"city":{"type":"string"}}}},{"name":"get_time"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		env      map[string]string
		args     []string
		wantCode int
		want     []string // in stdout (0) or stderr
		json     bool
	}{
		{"json", nil, []string{"--model", "gemini-3-flash-preview", "--input", "weather in Paris?", "--tool-decl", decl, "--metadata", "ticket=T-1", "--metadata", "team=ops", "--json"}, 0, nil, true},
		{"table", nil, []string{"--model", "gemini-3-flash-preview", "--input", "weather in Paris?", "--tool-decl", decl, "--metadata", "ticket=T-1", "--metadata", "team=ops"}, 0,
			[]string{"STARTED", "interactions/started_1", "https://hooks.example.com/gemini, https://b.example.com/g", "get_weather, get_time", "x jobs get interactions/started_1"}, false},
		{"agent, --receiver", map[string]string{"RECEIVER_URL": ""}, []string{"--agent", "deep-research-pro-preview-12-2025", "--input", "weather in Paris?", "--tool-decl", decl,
			"--metadata", "ticket=T-1", "--metadata", "team=ops", "--receiver", "https://hooks.example.com/gemini", "--receiver", "https://b.example.com/g"}, 0, []string{"interactions/started_1"}, false},
		{"no RECEIVER_URL", map[string]string{"RECEIVER_URL": ""}, []string{"--model", "m", "--input", "hi"}, 2, []string{"RECEIVER_URL"}, false},
		{"model and agent", nil, []string{"--model", "m", "--agent", "a", "--input", "hi"}, 2, []string{"one of --model or --agent"}, false},
		{"no input", nil, []string{"--model", "m"}, 2, []string{"--input"}, false},
		{"bad metadata", nil, []string{"--model", "m", "--input", "hi", "--metadata", "nope"}, 2, []string{`--metadata "nope": want k=v`}, false},
		{"no API key", map[string]string{"GEMINI_API_KEY": ""}, []string{"--model", "m", "--input", "hi"}, 2, []string{"GEMINI_API_KEY"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := geminitest.New("k")
			defer s.Close()
			vars := map[string]string{"GEMINI_API_KEY": "k", "GOOGLE_GEMINI_BASE_URL": s.URL,
				"RECEIVER_URL": "https://hooks.example.com/gemini, https://b.example.com/g", "STATE_PATH": filepath.Join(dir, "none.db")}
			for k, v := range c.env {
				vars[k] = v
			}
			var out, errs strings.Builder
			code := admin.Run(context.Background(), append([]string{"interactions", "start"}, c.args...),
				admin.Env{Name: "x", Stdout: &out, Stderr: &errs, Getenv: func(k string) string { return vars[k] }})
			if code != c.wantCode {
				t.Fatalf("exit %d, want %d: %s%s", code, c.wantCode, out.String(), errs.String())
			}
			got := s.Continuations()
			if c.wantCode != 0 {
				if len(got) != 0 {
					t.Errorf("a refused start created %+v", got)
				}
				for _, w := range c.want {
					if !strings.Contains(errs.String(), w) {
						t.Errorf("stderr lacks %q: %s", w, errs.String())
					}
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("creates %+v; want one", got)
			}
			cr := got[0]
			var toolNames []any
			for _, tool := range cr.Tools {
				if tool["type"] != "function" {
					t.Errorf("tool %v: want a function declaration", tool)
				}
				toolNames = append(toolNames, tool["name"])
			}
			wantModel, wantAgent := "gemini-3-flash-preview", ""
			if strings.HasPrefix(c.name, "agent") {
				wantModel, wantAgent = "", "deep-research-pro-preview-12-2025"
			}
			if cr.Previous != "" || !cr.Background || !cr.Store || cr.Model != wantModel || cr.Agent != wantAgent ||
				!reflect.DeepEqual(cr.WebhookURIs, []string{"https://hooks.example.com/gemini", "https://b.example.com/g"}) ||
				!reflect.DeepEqual(cr.UserMetadata, map[string]any{"ticket": "T-1", "team": "ops"}) ||
				!reflect.DeepEqual(toolNames, []any{"get_weather", "get_time"}) || cr.Tools[0]["parameters"] == nil {
				t.Errorf("the stand-in took %+v", cr)
			}
			if c.json {
				var v map[string]any
				if err := json.Unmarshal([]byte(out.String()), &v); err != nil {
					t.Fatal(err)
				}
				if v["id"] != "interactions/started_1" || !reflect.DeepEqual(v["webhook_uris"], []any{"https://hooks.example.com/gemini", "https://b.example.com/g"}) ||
					!reflect.DeepEqual(v["user_metadata"], map[string]any{"ticket": "T-1", "team": "ops"}) || !strings.Contains(v["next"].(string), "jobs get interactions/started_1") {
					t.Errorf("--json: %s", out.String())
				}
			}
			for _, w := range c.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}
