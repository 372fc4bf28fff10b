package gcs_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/geminiwebhooks/receiver/adapters/gcs"
	"github.com/geminiwebhooks/receiver/adapters/sink/sinktest"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

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

func TestGCSSink(t *testing.T) {
	g, err := gcs.New(fakeGCS(t), "gs://results/landing/prefix")
	if err != nil {
		t.Fatal(err)
	}
	sinktest.Run(t, g)
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
	g, _ := gcs.New(client, "gs://results")
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
	g, _ := gcs.New(fakeGCS(t), "gs://results/p")
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
