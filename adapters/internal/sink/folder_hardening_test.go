package sink_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/geminiwebhooks/receiver/adapters/internal/sink"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

// Issue 13, finding 11: a symlink planted inside RESULTS_SINK cannot lead a
// landing out of it, and what lands is the owner's alone (0700/0600).
func TestFolderStaysInsideAndPrivate(t *testing.T) {
	tests := []struct {
		name  string
		plant func(t *testing.T, root, outside string)
		key   string
		op    string // put or get
	}{
		{"directory symlink to outside, put", func(t *testing.T, root, outside string) {
			must(t, os.Symlink(outside, filepath.Join(root, "batches")))
		}, "batches/x/results.jsonl", "put"},
		{"nested directory symlink, put", func(t *testing.T, root, outside string) {
			must(t, os.MkdirAll(filepath.Join(root, "batches"), 0o700))
			must(t, os.Symlink(outside, filepath.Join(root, "batches", "x")))
		}, "batches/x/results.jsonl", "put"},
		{"file symlink to outside, get", func(t *testing.T, root, outside string) {
			must(t, os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600))
			must(t, os.MkdirAll(filepath.Join(root, "batches", "x"), 0o700))
			must(t, os.Symlink(filepath.Join(outside, "secret"), filepath.Join(root, "batches", "x", "manifest.json")))
		}, "batches/x/manifest.json", "get"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root, outside := filepath.Join(t.TempDir(), "sink"), t.TempDir()
			f, err := sink.NewFolder(root)
			if err != nil {
				t.Fatal(err)
			}
			tc.plant(t, root, outside)
			before, _ := os.ReadDir(outside)
			switch tc.op {
			case "put":
				_, err = f.Put(context.Background(), tc.key, strings.NewReader("results"), "application/jsonl")
			case "get":
				var b []byte
				b, err = jobs.ReadSmall(context.Background(), f, tc.key, 1<<20)
				if strings.Contains(string(b), "secret") {
					t.Fatal("read a file outside the sink")
				}
			}
			if err == nil {
				t.Fatalf("%s %s through a symlink out of the sink succeeded", tc.op, tc.key)
			}
			if after, _ := os.ReadDir(outside); len(after) != len(before) {
				t.Fatalf("the folder outside the sink changed: %d entries, had %d", len(after), len(before))
			}
		})
	}
}

func TestFolderPermissions(t *testing.T) {
	root := filepath.Join(t.TempDir(), "sink")
	f, err := sink.NewFolder(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Put(context.Background(), "batches/p/results.jsonl", strings.NewReader("x\n"), ""); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		want os.FileMode
	}{
		{root, 0o700},
		{filepath.Join(root, "batches"), 0o700},
		{filepath.Join(root, "batches", "p"), 0o700},
		{filepath.Join(root, "batches", "p", "results.jsonl"), 0o600},
	} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != c.want {
			t.Errorf("%s: mode %o, want %o", c.path, got, c.want)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
