package sink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

// Folder lands outputs under a local directory: each is written to a
// temporary file beside its final name, synced, and renamed over it, so a
// reader (or a crash) never sees part of one.
type Folder struct {
	root string
}

var _ jobs.Sink = (*Folder)(nil)

// NewFolder makes (if need be) and uses dir.
func NewFolder(dir string) (*Folder, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("folder sink: %w", err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("folder sink: %w", err)
	}
	return &Folder{root: abs}, nil
}

// Root is the folder's absolute path.
func (f *Folder) Root() string { return f.root }

func (f *Folder) path(key string) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", err
	}
	return filepath.Join(f.root, filepath.FromSlash(key)), nil
}

// partialPrefix names the temporary files of a key's landings.
func partialPrefix(base string) string { return "." + base + ".partial-" }

func (f *Folder) Put(ctx context.Context, key string, r io.Reader, _ string) (string, error) {
	path, err := f.path(key)
	if err != nil {
		return "", err
	}
	dir, base := filepath.Split(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("folder sink: %w", err)
	}
	// The caller holds the job's landing claim: partial files of this key
	// were left by attempts that crashed or gave up.
	removePartials(dir, base)
	tmp, err := os.CreateTemp(dir, partialPrefix(base)+"*")
	if err != nil {
		return "", fmt.Errorf("folder sink: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := io.CopyBuffer(writerOnly{tmp}, ContextReader{Ctx: ctx, R: r}, make([]byte, copyBuffer)); err != nil {
		return "", fmt.Errorf("folder sink %s: %w", key, err)
	}
	if err := tmp.Sync(); err != nil {
		return "", fmt.Errorf("folder sink %s: %w", key, err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("folder sink %s: %w", key, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return "", fmt.Errorf("folder sink %s: %w", key, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("folder sink %s: %w", key, err)
	}
	committed = true
	syncDir(dir) // make the rename itself durable
	return f.URI(key), nil
}

// Open streams the object at key.
func (f *Folder) Open(_ context.Context, key string) (io.ReadCloser, error) {
	path, err := f.path(key)
	if err != nil {
		return nil, err
	}
	file, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("folder sink %s: %w", key, core.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("folder sink %s: %w", key, err)
	}
	return file, nil
}

// URI is the file:// URL of key.
func (f *Folder) URI(key string) string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(f.root, filepath.FromSlash(key)))}).String()
}

func removePartials(dir, base string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), partialPrefix(base)) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// ContextReader stops a copy when its context ends.
type ContextReader struct {
	Ctx context.Context
	R   io.Reader
}

// Read reads from R until the context ends.
func (c ContextReader) Read(p []byte) (int, error) {
	if err := c.Ctx.Err(); err != nil {
		return 0, context.Cause(c.Ctx)
	}
	return c.R.Read(p)
}

// writerOnly hides *os.File's ReadFrom so the copy uses our buffer size.
type writerOnly struct{ io.Writer }
