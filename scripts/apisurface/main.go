// Command apisurface prints, for every package of this module that a user can import (those not
// under an internal/ folder, a main package or scripts/), the exported names it declares: its
// top-level functions, types, variables and constants, and the exported methods of its exported
// types. It is how the public surface is measured; run it from the module root:
//
//	go run ./scripts/apisurface
//
// With -all it lists every non-main package, internal ones included, so a change can be compared
// against the layout before it.
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	all := flag.Bool("all", false, "list internal packages too")
	names := flag.Bool("names", false, "print each exported name")
	flag.Parse()
	counts, err := count(".", *all)
	if err != nil {
		fmt.Fprintln(os.Stderr, "apisurface:", err)
		os.Exit(1)
	}
	dirs := make([]string, 0, len(counts))
	for d := range counts {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	total := 0
	for _, d := range dirs {
		sort.Strings(counts[d])
		fmt.Printf("%4d %s\n", len(counts[d]), d)
		if *names {
			for _, n := range counts[d] {
				fmt.Printf("       %s\n", n)
			}
		}
		total += len(counts[d])
	}
	fmt.Printf("%4d in %d packages\n", total, len(dirs))
}

// count walks root and returns, per package folder, its exported names.
func count(root string, all bool) (map[string][]string, error) {
	out := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		base := d.Name()
		if path != root && (strings.HasPrefix(base, ".") || base == "testdata" || base == "node_modules") {
			return filepath.SkipDir
		}
		rel := filepath.ToSlash(path)
		if strings.HasPrefix(rel, "scripts") || strings.HasPrefix(rel, "deploy") {
			return nil
		}
		if !all && (base == "internal" || strings.Contains(rel, "/internal/")) {
			return filepath.SkipDir
		}
		entries, err := os.ReadDir(path)
		if err != nil {
			return err
		}
		fset := token.NewFileSet()
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, filepath.Join(path, name), nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			if f.Name.Name == "main" {
				continue
			}
			if _, ok := out[rel]; !ok {
				out[rel] = nil
			}
			out[rel] = append(out[rel], exported(f)...)
		}
		return nil
	})
	return out, err
}

// exported lists the file's exported top-level names and the exported
// methods of its exported types, as Type.Method.
func exported(f *ast.File) []string {
	var names []string
	for _, decl := range f.Decls {
		switch d := decl.(type) {
		case *ast.FuncDecl:
			if !d.Name.IsExported() {
				continue
			}
			if d.Recv == nil {
				names = append(names, d.Name.Name)
				continue
			}
			if recv := receiverType(d.Recv.List[0].Type); ast.IsExported(recv) {
				names = append(names, recv+"."+d.Name.Name)
			}
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					if s.Name.IsExported() {
						names = append(names, s.Name.Name)
					}
				case *ast.ValueSpec:
					for _, n := range s.Names {
						if n.IsExported() {
							names = append(names, n.Name)
						}
					}
				}
			}
		}
	}
	return names
}

func receiverType(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.StarExpr:
		return receiverType(t.X)
	case *ast.IndexExpr:
		return receiverType(t.X)
	case *ast.IndexListExpr:
		return receiverType(t.X)
	case *ast.Ident:
		return t.Name
	}
	return ""
}
