package sink_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/geminiwebhooks/receiver/adapters/sink"
	"github.com/geminiwebhooks/receiver/adapters/sink/sinktest"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

// failAfter yields n bytes of data and then fails, as a cut download does.
type failAfter struct {
	r io.Reader
	n int64
}

var errCut = errors.New("connection cut")

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errCut
	}
	if int64(len(p)) > f.n {
		p = p[:f.n]
	}
	n, err := f.r.Read(p)
	f.n -= int64(n)
	return n, err
}

// fakeGCS is an in-process Cloud Storage with one bucket.
func fakeGCS(t *testing.T) *storage.Client {
	t.Helper()
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", NoListener: false})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "results"})
	return srv.Client()
}

// Every sink: a Put lands byte for byte, replaces an earlier landing
// rather than adding a copy, and a Put whose source fails leaves nothing.
func TestSinks(t *testing.T) {
	folder := t.TempDir()
	f, err := sink.NewFolder(folder)
	if err != nil {
		t.Fatal(err)
	}
	g, err := sink.NewGCS(fakeGCS(t), "gs://results/landing/prefix")
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]jobs.Sink{"folder": f, "gcs": g} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			big := bytes.Repeat([]byte("0123456789abcdef\n"), (10<<20)/17) // over one GCS chunk: a resumable upload
			uri, err := s.Put(ctx, "batches/a/results.jsonl", bytes.NewReader(big), "application/jsonl")
			if err != nil {
				t.Fatal(err)
			}
			if uri != s.URI("batches/a/results.jsonl") {
				t.Fatalf("uri %s", uri)
			}
			got, err := jobs.ReadSmall(ctx, s, "batches/a/results.jsonl", 20<<20)
			if err != nil || !bytes.Equal(got, big) {
				t.Fatalf("landed %d bytes, want %d: %v", len(got), len(big), err)
			}
			// A second landing of the same key replaces it.
			if _, err := s.Put(ctx, "batches/a/results.jsonl", strings.NewReader("v2\n"), "application/jsonl"); err != nil {
				t.Fatal(err)
			}
			if got, _ := jobs.ReadSmall(ctx, s, "batches/a/results.jsonl", 100); string(got) != "v2\n" {
				t.Fatalf("after replace: %q", got)
			}
			// A source that fails midway: nothing at the key, the old
			// object untouched.
			_, err = s.Put(ctx, "batches/b/results.jsonl", &failAfter{r: bytes.NewReader(big), n: 9 << 20}, "application/jsonl")
			if !errors.Is(err, errCut) {
				t.Fatalf("put from a failing source: %v", err)
			}
			if _, err := jobs.ReadSmall(ctx, s, "batches/b/results.jsonl", 20<<20); !errors.Is(err, core.ErrNotFound) {
				t.Fatalf("a failed put left something: %v", err)
			}
			_, err = s.Put(ctx, "batches/a/results.jsonl", &failAfter{r: bytes.NewReader(big), n: 100}, "application/jsonl")
			if !errors.Is(err, errCut) {
				t.Fatal(err)
			}
			if got, _ := jobs.ReadSmall(ctx, s, "batches/a/results.jsonl", 100); string(got) != "v2\n" {
				t.Fatalf("a failed replace changed the object: %q", got)
			}
			if _, err := jobs.ReadSmall(ctx, s, "batches/a/results.jsonl", 2); err == nil {
				t.Fatal("Get ignored its limit")
			}
			for _, bad := range []string{"", "/abs", "a/../b", "a//b", "."} {
				if _, err := s.Put(ctx, bad, strings.NewReader("x"), ""); err == nil {
					t.Errorf("key %q accepted", bad)
				}
			}
		})
	}
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

// A batch whose output went to Cloud Storage is read from there.
func TestGCSFetch(t *testing.T) {
	client := fakeGCS(t)
	w := client.Bucket("results").Object("vertex/out.jsonl").NewWriter(context.Background())
	w.ContentType = "application/jsonl"
	io.WriteString(w, "{\"response\":{}}\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	g, _ := sink.NewGCS(client, "gs://results")
	d, err := g.Fetch(context.Background(), "gs://results/vertex/out.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(d.Body)
	d.Body.Close()
	if string(b) != "{\"response\":{}}\n" || d.Size != int64(len(b)) {
		t.Fatalf("fetched %q, size %d", b, d.Size)
	}
	if _, err := g.Fetch(context.Background(), "gs://results/none"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("missing object: %v", err)
	}
}

// Two writers that both saw the key absent: the conditional create lets
// only the first to finish win; the other fails instead of overwriting.
func TestGCSConditionalCreate(t *testing.T) {
	g, _ := sink.NewGCS(fakeGCS(t), "gs://results/p")
	ctx := context.Background()
	slow := sinktest.NewGated(strings.NewReader("from A\n"))
	errA := make(chan error, 1)
	go func() {
		_, err := g.Put(ctx, "k/results.jsonl", slow, "")
		errA <- err
	}()
	<-slow.Reading // A has checked that the key is absent and is streaming
	if _, err := g.Put(ctx, "k/results.jsonl", strings.NewReader("from B\n"), ""); err != nil {
		t.Fatal(err)
	}
	close(slow.Open)
	if err := <-errA; err == nil {
		t.Fatal("the second writer overwrote the first")
	}
	if b, _ := jobs.ReadSmall(ctx, g, "k/results.jsonl", 100); string(b) != "from B\n" {
		t.Fatalf("object holds %q", b)
	}
}
