package local

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// Hints name the user's own command: a built binary as invoked, a `go run`
// build by its package relative to where the user is (or its import path
// outside the module's folder), never a path of this repository.
func TestCommandFor(t *testing.T) {
	mod := t.TempDir()
	if err := os.WriteFile(filepath.Join(mod, "go.mod"), []byte("module example.com/usermod\n\ngo 1.26.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"cmd/local", "docs"} {
		if err := os.MkdirAll(filepath.Join(mod, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	goRun := filepath.Join(os.TempDir(), "go-build1234", "b001", "exe", "local")
	digest := strings.Repeat("a8e63aee", 8)
	cached := filepath.Join(t.TempDir(), "go-cache", digest[:2], digest+"-d", "local") // Go 1.24+: a cached `go run` build
	bi := &debug.BuildInfo{Path: "example.com/usermod/cmd/local", Main: debug.Module{Path: "example.com/usermod"}}
	for _, tc := range []struct {
		name, arg0, wd string
		bi             *debug.BuildInfo
		want           string
	}{
		{"built binary", "./bin/local", mod, bi, "./bin/local"},
		{"on PATH", "receiver", mod, bi, "receiver"},
		{"go run from the module root", goRun, mod, bi, "go run ./cmd/local"},
		{"cached go run from the module root", cached, mod, bi, "go run ./cmd/local"},
		{"a binary in a folder that only looks like the cache", filepath.Join(mod, "ab", "abc-d", "local"), mod, bi, filepath.Join(mod, "ab", "abc-d", "local")},
		{"go run from the package", goRun, filepath.Join(mod, "cmd/local"), bi, "go run ."},
		{"go run from a sibling folder", goRun, filepath.Join(mod, "docs"), bi, "go run example.com/usermod/cmd/local"},
		{"go run outside the module", goRun, t.TempDir(), bi, "go run example.com/usermod/cmd/local"},
		{"go run, main package at the root", goRun, mod, &debug.BuildInfo{Path: "example.com/usermod", Main: debug.Module{Path: "example.com/usermod"}}, "go run ."},
		{"go run without build info", goRun, mod, nil, goRun},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := commandFor(tc.arg0, tc.wd, tc.bi)
			if got != tc.want {
				t.Fatalf("commandFor = %q, want %q", got, tc.want)
			}
		})
	}
}

// The start-up hints name the user's command and a simulator command that
// works from any module requiring this one, not this repository's paths.
func TestStartupHintsNameNoRepositoryPath(t *testing.T) {
	var b strings.Builder
	announceDevSecret(&b, "whsec_x", true, "8080")
	announceLanding(&b, "file:///tmp/results/", false)
	out := b.String()
	for _, bad := range []string{"./scripts/", "./functions/", "whsec_x"} {
		if strings.Contains(out, bad) {
			t.Errorf("start-up output names %q:\n%s", bad, out)
		}
	}
	for _, want := range []string{SimulatorCommand + " --url http://127.0.0.1:8080 --secret-file .gemini-webhooks/dev-secret", selfCommand() + " jobs list", SimulatorCommand + " standin"} {
		if !strings.Contains(out, want) {
			t.Errorf("start-up output lacks %q:\n%s", want, out)
		}
	}
}
