package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// fileSink writes the secret to a file readable by its owner only. The temp
// file is made (empty, 0600) in Prepare, in the destination's own folder so
// the final rename is atomic, and is removed by Close unless it was renamed.
type fileSink struct {
	path string
	tmp  *os.File
}

func newFileSink(path string) *fileSink { return &fileSink{path: path} }

func (f *fileSink) Prepare(_ context.Context, read bool) (string, error) {
	if fi, err := os.Stat(f.path); err == nil && fi.IsDir() {
		return "", fmt.Errorf("%s is a directory", f.path)
	}
	var current string
	if read {
		b, err := os.ReadFile(f.path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return "", err
		default:
			current = string(b)
		}
	}
	// CreateTemp opens with 0600, and a umask can only remove bits.
	tmp, err := os.CreateTemp(filepath.Dir(f.path), "."+filepath.Base(f.path)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("cannot write beside %s: %w", f.path, err)
	}
	f.tmp = tmp
	return current, nil
}

func (f *fileSink) Put(_ context.Context, value string) error {
	if f.tmp == nil {
		return errors.New("file sink not prepared")
	}
	tmp := f.tmp
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err := tmp.WriteString(value + "\n"); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), f.path); err != nil {
		return err
	}
	f.tmp = nil
	// Make the rename itself durable.
	if d, err := os.Open(filepath.Dir(f.path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// Close removes the temp file if it was never renamed (an API error, a
// failed write, a signal): no copy of the secret is left behind.
func (f *fileSink) Close() error {
	if f.tmp == nil {
		return nil
	}
	name := f.tmp.Name()
	f.tmp.Close()
	f.tmp = nil
	return os.Remove(name)
}
