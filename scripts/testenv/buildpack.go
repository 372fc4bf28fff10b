package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// FunctionsFramework is the module of the Functions Framework for Go, which
// the buildpack's generated main and deploy.sh's root package import.
const FunctionsFramework = "github.com/GoogleCloudPlatform/functions-framework-go"

// FakeGcloud is a gcloud for deploy.sh's dry runs, put first on PATH:
// each call is recorded in the file gcloud-calls beside it, and fails.
const FakeGcloud = `#!/bin/sh
printf '%s\n' "$*" >> "$(dirname "$0")/gcloud-calls"
exit 97
`

// BuildpackMain is the Go buildpack's declarative main template
// (GoogleCloudPlatform/buildpacks, cmd/go/functions_framework); {{.Package}}
// is the module path of the uploaded source.
const BuildpackMain = `// Binary main file implements an HTTP server that loads and runs user's code
// on incoming HTTP requests.
package main

import (
	"log"
	"net/http"
	"os"

	_ "{{.Package}}"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
)

func main() {
	http.HandleFunc("/robots.txt", http.NotFound)
	http.HandleFunc("/favicon.ico", http.NotFound)

	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	if err := funcframework.Start(port); err != nil {
		log.Fatalf("Function failed to start: %v\n", err)
	}
}
`

// BuildpackGo runs the go command in dir as Cloud Build would: vendor/ only,
// no proxy, no workspace, an empty module cache (in a "gohome" folder two
// levels above dir, beside the workspace). It returns trimmed stdout.
func BuildpackGo(dir string, args ...string) (string, error) {
	home := filepath.Join(filepath.Dir(filepath.Dir(dir)), "gohome")
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GOFLAGS=-mod=vendor", "GOPROXY=off", "GOWORK=off", "GOTOOLCHAIN=local", "GOSUMDB=off",
		"GOPATH="+filepath.Join(home, "gopath"), "GOMODCACHE="+filepath.Join(home, "empty-modcache"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go %s in %s: %w\n%s", strings.Join(args, " "), dir, err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

// CheckBuildpackRules reports every way src breaks what the Go buildpack
// requires of --source; pkg is the package the root must import (the one
// that registers the functions).
func CheckBuildpackRules(src, pkg string) error {
	var errs []error
	// One non-main package at the root, importing the framework's functions
	// package (which selects the declarative main template).
	names, err := filepath.Glob(filepath.Join(src, "*.go"))
	if err != nil {
		return err
	}
	pkgs := map[string][]*ast.File{} // package name -> its files (parser.ParseDir is deprecated)
	fset := token.NewFileSet()
	for _, n := range names {
		f, err := parser.ParseFile(fset, n, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		pkgs[f.Name.Name] = append(pkgs[f.Name.Name], f)
	}
	if len(pkgs) != 1 {
		return fmt.Errorf("root of --source holds %d packages, want 1", len(pkgs))
	}
	for name, files := range pkgs {
		if name == "main" {
			return errors.New("the root package is main; the buildpack needs a non-main package")
		}
		if _, err := os.Stat(filepath.Join(src, name)); err == nil {
			errs = append(errs, fmt.Errorf("a folder named like the root package (%s) would change the import path the buildpack uses", name))
		}
		imports := map[string]bool{}
		for _, f := range files {
			for _, imp := range f.Imports {
				imports[strings.Trim(imp.Path.Value, `"`)] = true
			}
		}
		for _, want := range []string{FunctionsFramework + "/functions", FunctionsFramework + "/funcframework", pkg} {
			if !imports[want] {
				errs = append(errs, fmt.Errorf("the root package does not import %s", want))
			}
		}
	}
	// The module path's first element has a dot.
	mod, err := BuildpackGo(src, "list", "-m")
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	if !strings.Contains(strings.Split(mod, "/")[0], ".") {
		errs = append(errs, fmt.Errorf("module path %q: the buildpack needs a dot in its first element", mod))
	}
	// vendor/ holds funcframework and go.mod requires the framework.
	if _, err := os.Stat(filepath.Join(src, "vendor", FunctionsFramework, "funcframework")); err != nil {
		errs = append(errs, fmt.Errorf("vendor/ lacks funcframework: %w", err))
	}
	if v, err := BuildpackGo(src, "list", "-m", "-f", "{{.Version}}", FunctionsFramework); err != nil || !strings.HasPrefix(v, "v1.") {
		errs = append(errs, fmt.Errorf("functions framework version %q in go.mod (%v)", v, err))
	}
	// runtime go126 builds a module that asks for at most go 1.26.
	gomod, err := os.ReadFile(filepath.Join(src, "go.mod"))
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	gv := regexp.MustCompile(`(?m)^go (1\.(\d+))(\.\d+)?\s*$`).FindSubmatch(gomod)
	if gv == nil {
		errs = append(errs, errors.New("go.mod has no go directive"))
	} else if minor, _ := strconv.Atoi(string(gv[2])); minor > 26 {
		errs = append(errs, fmt.Errorf("go.mod says go %s; runtime go126 cannot build it", gv[1]))
	}
	// No test files are uploaded.
	_ = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, "_test.go") && !strings.Contains(p, string(filepath.Separator)+"vendor"+string(filepath.Separator)) {
			errs = append(errs, fmt.Errorf("test file staged: %s", p))
		}
		return err
	})
	return errors.Join(errs...)
}

// BuildStaged does with deploy.sh's staged folder what gcloud, Cloud Build
// and the Go buildpack do: it copies stage to work/workspace/
// serverless_function_source_code (the upload) and removes stage, checks
// the buildpack's rules (pkg is the package the root must import), and
// builds the buildpack's generated main from vendor/ alone (BuildpackGo)
// into work/bin/main. The folders in hide (a user's module, a checkout) are
// moved away while the build runs, so that only the copy can be read, and
// put back afterwards. -trimpath is the one difference from Cloud Build: it
// keeps the build cache valid across temporary folders.
func BuildStaged(stage, work, pkg string, hide []string) (src, bin string, err error) {
	src = filepath.Join(work, "workspace", "serverless_function_source_code")
	if err := CopyTree(stage, src); err != nil {
		return "", "", err
	}
	if err := os.RemoveAll(stage); err != nil {
		return "", "", err
	}
	for _, d := range hide {
		moved := d + ".hidden-during-build"
		if err := os.Rename(d, moved); err != nil {
			return "", "", fmt.Errorf("hide %s during the build: %w", d, err)
		}
		defer func() {
			if rerr := os.Rename(moved, d); rerr != nil && err == nil {
				err = fmt.Errorf("put back %s: %w", d, rerr)
			}
		}()
	}
	if err := CheckBuildpackRules(src, pkg); err != nil {
		return "", "", fmt.Errorf("the staged source breaks the buildpack's rules: %w", err)
	}
	mainDir := filepath.Join(src, "functions.local", "app")
	if err := os.MkdirAll(mainDir, 0o755); err != nil {
		return "", "", err
	}
	mod, err := BuildpackGo(src, "list", "-m")
	if err != nil {
		return "", "", err
	}
	if err := os.WriteFile(filepath.Join(mainDir, "main.go"), []byte(strings.ReplaceAll(BuildpackMain, "{{.Package}}", mod)), 0o644); err != nil {
		return "", "", err
	}
	bin = filepath.Join(work, "bin", "main")
	if _, err := BuildpackGo(src, "build", "-trimpath", "-o", bin, mainDir); err != nil {
		return "", "", err
	}
	return src, bin, nil
}

// CopyTree copies the regular files under from to to; anything else (a
// symbolic link, a socket) is an error, since gcloud would not upload it
// as is.
func CopyTree(from, to string) error {
	return filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file; gcloud would not upload it as is", p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
}
