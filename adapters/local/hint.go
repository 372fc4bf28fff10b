package local

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
)

// SimulatorCommand runs the simulator from the folder of any module that
// requires this one: it needs no module the local server does not already
// link, so the go.sum that `go mod tidy` made for a local.Main is enough
// (scripts/simulator's tests check it).
const SimulatorCommand = "go run github.com/geminiwebhooks/receiver/scripts/simulator"

// selfCommand is how the user runs this binary again: its path as invoked
// (./bin/receiver, or its name when found on PATH), or for a `go run`
// build, `go run` with the package relative to the working directory when
// the module's folder contains it (`go run .`, `go run ./cmd/local`),
// otherwise with its import path. Hints name it, never a path of this
// repository.
func selfCommand() string {
	wd, _ := os.Getwd()
	bi, _ := debug.ReadBuildInfo()
	return commandFor(os.Args[0], wd, bi)
}

func commandFor(arg0, wd string, bi *debug.BuildInfo) string {
	if !goRunBuild(arg0) || bi == nil || bi.Path == "" {
		return arg0
	}
	if rel := relativePackage(wd, bi.Path, bi.Main.Path); rel != "" {
		return "go run " + rel
	}
	return "go run " + bi.Path
}

// goRunBuild: `go run` builds into $GOTMPDIR/go-buildNNN/bNNN/exe/NAME,
// and since Go 1.24 runs a cached build from the build cache,
// $GOCACHE/HH/HHHH…HH-d/NAME (a hex digest whose first byte names its
// folder): the second `go run` of the same program is one of these.
func goRunBuild(arg0 string) bool {
	dir := filepath.Dir(arg0)
	if filepath.Base(dir) == "exe" && strings.Contains(filepath.ToSlash(dir), "/go-build") {
		return true
	}
	digest, ok := strings.CutSuffix(filepath.Base(dir), "-d")
	return ok && len(digest) == 64 && strings.Trim(digest, "0123456789abcdef") == "" &&
		filepath.Base(filepath.Dir(dir)) == digest[:2]
}

// relativePackage finds the folder of module mod's go.mod at or above wd
// and returns pkg's folder relative to wd ("." or "./sub"), or "" when wd
// is not inside that module or pkg's folder is not below wd.
func relativePackage(wd, pkg, mod string) string {
	if wd == "" || mod == "" || (pkg != mod && !strings.HasPrefix(pkg, mod+"/")) {
		return ""
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if moduleOf(filepath.Join(dir, "go.mod")) == mod {
			target := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(pkg, mod)))
			rel, err := filepath.Rel(wd, target)
			if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				return ""
			}
			if rel == "." {
				return "."
			}
			return "./" + filepath.ToSlash(rel)
		}
		if filepath.Dir(dir) == dir {
			return ""
		}
	}
}

// moduleOf is the module path a go.mod declares ("" when unreadable).
func moduleOf(gomod string) string {
	b, err := os.ReadFile(gomod)
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

// announceLanding says where finished jobs land and how to list them and,
// without an API key, how to land them anyway with the API stand-in.
func announceLanding(w io.Writer, uri string, apiKey bool) {
	fmt.Fprintf(w, "finished batches land in %s; see them with: %s jobs list\n", uri, selfCommand())
	if !apiKey {
		fmt.Fprintf(w, "No GEMINI_API_KEY: finished batches are recorded, not landed. To land them without a key, serve the Gemini API stand-in:\n  %s standin\nand start this server with the GOOGLE_GEMINI_BASE_URL and GEMINI_API_KEY it prints.\n", SimulatorCommand)
	}
}
