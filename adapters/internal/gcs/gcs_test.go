package gcs_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/option"
	storage "google.golang.org/api/storage/v1"

	"github.com/geminiwebhooks/receiver/adapters/internal/gcs"
	"github.com/geminiwebhooks/receiver/adapters/internal/sink/sinktest"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

// fakeGCS is an in-process Cloud Storage with one bucket, and the client
// of its JSON API the sink uses.
func fakeGCS(t *testing.T) (*storage.Service, *fakestorage.Server) {
	t.Helper()
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", NoListener: false})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "results"})
	svc, err := storage.NewService(context.Background(), option.WithEndpoint(srv.URL()+"/storage/v1/"), option.WithoutAuthentication(), option.WithHTTPClient(srv.HTTPClient()))
	if err != nil {
		t.Fatal(err)
	}
	return svc, srv
}

func TestGCSSink(t *testing.T) {
	svc, _ := fakeGCS(t)
	g, err := gcs.New(svc, "gs://results/landing/prefix")
	if err != nil {
		t.Fatal(err)
	}
	sinktest.Run(t, g)
}

// A batch whose output went to Cloud Storage is read from there.
func TestGCSFetch(t *testing.T) {
	svc, srv := fakeGCS(t)
	srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "results", Name: "vertex/out.jsonl", ContentType: "application/jsonl"},
		Content: []byte("{\"response\":{}}\n")})
	g, _ := gcs.New(svc, "gs://results")
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
	svc, _ := fakeGCS(t)
	g, _ := gcs.New(svc, "gs://results/p")
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
