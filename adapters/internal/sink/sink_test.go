package sink_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/geminiwebhooks/receiver/adapters/internal/sink"
	"github.com/geminiwebhooks/receiver/adapters/internal/sink/sinktest"
)

// Every sink: a Put lands byte for byte, replaces an earlier landing
// rather than adding a copy, and a Put whose source fails leaves nothing.
func TestFolderSink(t *testing.T) {
	folder := t.TempDir()
	f, err := sink.NewFolder(folder)
	if err != nil {
		t.Fatal(err)
	}
	sinktest.Run(t, f)
	// The folder keeps no temporary file behind.
	filepath.Walk(folder, func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.Contains(info.Name(), ".partial-") {
			t.Errorf("partial file left: %s", p)
		}
		return nil
	})
}

// A partial file left by a crashed landing is removed by the next one.
func TestFolderRemovesCrashLeftovers(t *testing.T) {
	dir := t.TempDir()
	f, _ := sink.NewFolder(dir)
	os.MkdirAll(filepath.Join(dir, "batches", "c"), 0o755)
	left := filepath.Join(dir, "batches", "c", ".results.jsonl.partial-123")
	os.WriteFile(left, []byte("half"), 0o644)
	if _, err := f.Put(context.Background(), "batches/c/results.jsonl", strings.NewReader("whole\n"), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(left); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("leftover still there: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "batches", "c", "results.jsonl")); string(b) != "whole\n" {
		t.Fatalf("landed %q", b)
	}
}
