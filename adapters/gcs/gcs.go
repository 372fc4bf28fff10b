// Package gcs is Cloud Storage: the gs:// results sink and the reader of
// gs:// batch outputs, built lazily from one client per process (Clients).
// Only runtimes that can use Google Cloud Storage import it, so a Lambda
// links none of its dependencies (gRPC xDS, the metrics exporter).
package gcs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"

	"github.com/geminiwebhooks/receiver/adapters/sink"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

// gcsChunk is what the storage writer buffers per request: the memory a
// landing costs, whatever the object's size.
const gcsChunk = 8 << 20

// GCS lands outputs in a Cloud Storage bucket under a prefix. An upload
// becomes visible only when it completes (a failed or cancelled one leaves
// nothing), and every write is conditional: create only if absent, or
// replace only the generation an earlier attempt left, so two writers can
// never both win. It also reads gs:// sources (core.Fetcher).
type GCS struct {
	client         *storage.Client
	bucket, prefix string
}

var (
	_ jobs.Sink    = (*GCS)(nil)
	_ jobs.Fetcher = (*GCS)(nil)
)

// New uses client for uri, gs://bucket or gs://bucket/prefix.
func New(client *storage.Client, uri string) (*GCS, error) {
	bucket, prefix, err := ParseGS(uri)
	if err != nil {
		return nil, err
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return &GCS{client: client, bucket: bucket, prefix: prefix}, nil
}

// ParseGS splits gs://bucket/object.
func ParseGS(uri string) (bucket, object string, err error) {
	rest, ok := strings.CutPrefix(uri, "gs://")
	if !ok {
		return "", "", fmt.Errorf("%q is not a gs:// URI", uri)
	}
	bucket, object, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("%q names no bucket", uri)
	}
	return bucket, object, nil
}

func (g *GCS) object(key string) (*storage.ObjectHandle, error) {
	if err := sink.CheckKey(key); err != nil {
		return nil, err
	}
	return g.client.Bucket(g.bucket).Object(g.prefix + key), nil
}

func (g *GCS) Put(ctx context.Context, key string, r io.Reader, contentType string) (string, error) {
	obj, err := g.object(key)
	if err != nil {
		return "", err
	}
	cond := storage.Conditions{DoesNotExist: true}
	attrs, err := obj.Attrs(ctx)
	switch {
	case err == nil:
		// Left by an earlier attempt (we hold the job's landing claim):
		// replace exactly that generation.
		cond = storage.Conditions{GenerationMatch: attrs.Generation}
	case !errors.Is(err, storage.ErrObjectNotExist):
		return "", fmt.Errorf("gcs sink %s: %w", key, err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := obj.If(cond).NewWriter(wctx)
	w.ContentType = contentType
	w.ChunkSize = gcsChunk
	if _, err := io.CopyBuffer(w, sink.ContextReader{Ctx: ctx, R: r}, make([]byte, sink.CopyBuffer)); err != nil {
		cancel() // abandons the upload: nothing becomes visible
		_ = w.Close()
		return "", fmt.Errorf("gcs sink %s: %w", key, err)
	}
	if err := w.Close(); err != nil {
		var ge *googleapi.Error
		if errors.As(err, &ge) && ge.Code == http.StatusPreconditionFailed {
			return "", fmt.Errorf("gcs sink %s: written concurrently by someone else: %w", key, err)
		}
		return "", fmt.Errorf("gcs sink %s: %w", key, err)
	}
	return g.URI(key), nil
}

// Open streams the object at key.
func (g *GCS) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	obj, err := g.object(key)
	if err != nil {
		return nil, err
	}
	rd, err := obj.NewReader(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return nil, fmt.Errorf("gcs sink %s: %w", key, core.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("gcs sink %s: %w", key, err)
	}
	return rd, nil
}

func (g *GCS) URI(key string) string { return "gs://" + g.bucket + "/" + g.prefix + key }

// Fetch opens a gs:// source (a batch whose output went to Cloud Storage).
func (g *GCS) Fetch(ctx context.Context, source string) (*jobs.Download, error) {
	bucket, name, err := ParseGS(source)
	if err != nil || name == "" {
		return nil, fmt.Errorf("gcs fetch %q: not a gs://bucket/object URI", source)
	}
	rd, err := g.client.Bucket(bucket).Object(name).NewReader(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return nil, fmt.Errorf("gcs fetch %s: %w", source, core.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("gcs fetch %s: %w", source, err)
	}
	return &jobs.Download{Body: rd, Size: rd.Attrs.Size, ContentType: rd.Attrs.ContentType}, nil
}
