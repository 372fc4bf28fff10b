package env_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// testTools are the folders under scripts/ that hold test and benchmark
// tooling, not the product: they start servers and subprocesses with
// environments of their own. scripts/gemini-webhooks, the admin CLI, is
// not among them.
var testTools = []string{"loadtest", "node", "simulator", "slowbody", "testenv", "usermod"}

// environ are the functions that read or write the process environment.
var environ = map[string]map[string]bool{
	"os":      {"Getenv": true, "LookupEnv": true, "Setenv": true, "Unsetenv": true, "Clearenv": true, "Environ": true, "ExpandEnv": true},
	"syscall": {"Getenv": true, "Setenv": true, "Unsetenv": true, "Clearenv": true, "Environ": true},
}

// TestOnlyEnvReadsTheEnvironment: configuration is read once, here. Any
// other non-test file of the module that touches the process environment
// (os.Getenv, LookupEnv, Setenv, Environ, …), or calls a getenv it was
// handed (getenv("X"), a.getenv(name), env.Getenv(name)) instead of passing
// it to a loader of this package, fails the test with its position.
func TestOnlyEnvReadsTheEnvironment(t *testing.T) {
	here, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root := here
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			t.Fatal("no go.mod above", here)
		}
		root = parent
	}
	var bad []string
	files := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			name := d.Name()
			if path == here || name == "testdata" || name == "vendor" || name == "node_modules" || (strings.HasPrefix(name, ".") && path != root) {
				return filepath.SkipDir
			}
			for _, tool := range testTools {
				if rel == filepath.Join("scripts", tool) {
					return filepath.SkipDir
				}
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		files++
		for _, p := range environUses(t, path) {
			bad = append(bad, rel+":"+p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("scanned %d files under %s: the walk missed the module", files, root)
	}
	for _, b := range bad {
		t.Errorf("%s: touches the environment outside adapters/internal/env: add the variable to a loader there and pass its value", b)
	}
}

// environUses lists where the file at path touches the environment.
func environUses(t *testing.T, path string) []string {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	// The names the file gives "os" and "syscall".
	pkgs := map[string]string{}
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		if environ[p] == nil {
			continue
		}
		name := p
		if imp.Name != nil {
			name = imp.Name.Name
		}
		pkgs[name] = p
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SelectorExpr:
			if id, ok := n.X.(*ast.Ident); ok && environ[pkgs[id.Name]][n.Sel.Name] {
				out = append(out, fmt.Sprintf("%d: %s.%s", fset.Position(n.Pos()).Line, id.Name, n.Sel.Name))
			}
		case *ast.CallExpr:
			var name string
			switch fn := n.Fun.(type) {
			case *ast.Ident:
				name = fn.Name
			case *ast.SelectorExpr:
				if id, ok := fn.X.(*ast.Ident); ok && pkgs[id.Name] != "" {
					return true // os.Getenv(…): reported as a selector
				}
				name = fn.Sel.Name
			}
			if strings.EqualFold(name, "getenv") || strings.EqualFold(name, "lookupenv") {
				out = append(out, fmt.Sprintf("%d: calls %s", fset.Position(n.Pos()).Line, name))
			}
		}
		return true
	})
	return out
}
