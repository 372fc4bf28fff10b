package sink

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
// reader (or a crash) never sees part of one. Every access goes through an
// os.Root opened on the directory, so a symlink planted inside it cannot
// lead a write or a read outside; folders are made 0700 and files 0600
// (results may hold whatever the batch produced: they are the owner's).
type Folder struct {
	root string
	dir  *os.Root
}

var _ jobs.Sink = (*Folder)(nil)

// NewFolder makes (if need be) and uses dir. The folder stays open for the
// life of the process.
func NewFolder(dir string) (*Folder, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("folder sink: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("folder sink: %w", err)
	}
	r, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("folder sink: %w", err)
	}
	return &Folder{root: abs, dir: r}, nil
}

// Root is the folder's absolute path.
func (f *Folder) Root() string { return f.root }

// path is key's name relative to the root.
func (f *Folder) path(key string) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", err
	}
	return filepath.FromSlash(key), nil
}

// partialPrefix names the temporary files of a key's landings.
func partialPrefix(base string) string { return "." + base + ".partial-" }

func (f *Folder) Put(ctx context.Context, key string, r io.Reader, _ string) (string, error) {
	path, err := f.path(key)
	if err != nil {
		return "", err
	}
	dir, base := filepath.Split(path)
	dir = filepath.Clean(dir) // "." for a key at the top
	if err := f.dir.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("folder sink: %w", err)
	}
	// The caller holds the job's landing claim: partial files of this key
	// were left by attempts that crashed or gave up.
	f.removePartials(dir, base)
	tmpName, tmp, err := f.createTemp(dir, partialPrefix(base))
	if err != nil {
		return "", fmt.Errorf("folder sink: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			_ = f.dir.Remove(tmpName)
		}
	}()
	if _, err := io.CopyBuffer(&flushingWriter{f: tmp}, ContextReader{Ctx: ctx, R: r}, make([]byte, CopyBuffer)); err != nil {
		return "", fmt.Errorf("folder sink %s: %w", key, err)
	}
	if err := tmp.Sync(); err != nil {
		return "", fmt.Errorf("folder sink %s: %w", key, err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("folder sink %s: %w", key, err)
	}
	if err := f.dir.Rename(tmpName, path); err != nil {
		return "", fmt.Errorf("folder sink %s: %w", key, err)
	}
	committed = true
	f.syncDir(dir) // make the rename itself durable
	return f.URI(key), nil
}

// createTemp makes a new 0600 file named prefix+random in dir, inside the root.
func (f *Folder) createTemp(dir, prefix string) (string, *os.File, error) {
	for range 10 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		name := filepath.Join(dir, prefix+hex.EncodeToString(b[:]))
		file, err := f.dir.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return name, file, err
	}
	return "", nil, errors.New("cannot make a temporary file")
}

// Open streams the object at key.
func (f *Folder) Open(_ context.Context, key string) (io.ReadCloser, error) {
	path, err := f.path(key)
	if err != nil {
		return nil, err
	}
	file, err := f.dir.Open(path)
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

func (f *Folder) removePartials(dir, base string) {
	d, err := f.dir.Open(dir)
	if err != nil {
		return
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), partialPrefix(base)) {
			_ = f.dir.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

func (f *Folder) syncDir(dir string) {
	if d, err := f.dir.Open(dir); err == nil {
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

// writebackEvery is how many written bytes the folder sink lets
// accumulate in the page cache before it starts their writeback.
const writebackEvery = 8 << 20

// flushingWriter writes to f and starts the writeback of every
// writebackEvery bytes. Being a plain Writer, it also hides *os.File's
// ReadFrom, so the copy uses our buffer size.
type flushingWriter struct {
	f              *os.File
	written, begun int64
}

func (w *flushingWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.written += int64(n)
	if w.written-w.begun >= writebackEvery {
		startWriteback(w.f, w.begun, w.written-w.begun)
		w.begun = w.written
	}
	return n, err
}
