// Package gcs is Cloud Storage: the gs:// results sink and the reader of
// gs:// batch outputs, over the JSON API client (google.golang.org/api/
// storage/v1), built lazily once per process (Clients). It avoids the
// cloud.google.com/go/storage client on purpose: that one links gRPC's xDS
// and a metrics exporter, hundreds of packages whose inits every cold start
// pays, for transports a results sink never uses. Only runtimes that can use
// Cloud Storage import this package.
package gcs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"google.golang.org/api/googleapi"
	storage "google.golang.org/api/storage/v1"

	"github.com/geminiwebhooks/receiver/adapters/internal/sink"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

// gcsChunk is what a resumable upload buffers per request: the memory a
// landing costs, whatever the object's size.
const gcsChunk = 8 << 20

// GCS lands outputs in a Cloud Storage bucket under a prefix. An upload
// becomes visible only when it completes (a failed or cancelled one leaves
// nothing), and every write is conditional: create only if absent, or
// replace only the generation an earlier attempt left, so two writers can
// never both win. It also reads gs:// sources (jobs.Fetcher).
type GCS struct {
	svc            *storage.Service
	bucket, prefix string
}

var (
	_ jobs.Sink    = (*GCS)(nil)
	_ jobs.Fetcher = (*GCS)(nil)
)

// New uses svc for uri, gs://bucket or gs://bucket/prefix.
func New(svc *storage.Service, uri string) (*GCS, error) {
	bucket, prefix, err := ParseGS(uri)
	if err != nil {
		return nil, err
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return &GCS{svc: svc, bucket: bucket, prefix: prefix}, nil
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

func (g *GCS) name(key string) (string, error) {
	if err := sink.CheckKey(key); err != nil {
		return "", err
	}
	return g.prefix + key, nil
}

// Put streams r to key as a resumable upload in gcsChunk parts.
func (g *GCS) Put(ctx context.Context, key string, r io.Reader, contentType string) (string, error) {
	name, err := g.name(key)
	if err != nil {
		return "", err
	}
	// 0: create only if absent. An object an earlier attempt left (we hold
	// the job's landing claim) is replaced at exactly its generation.
	var generation int64
	switch obj, err := g.svc.Objects.Get(g.bucket, name).Context(ctx).Do(); {
	case err == nil:
		generation = obj.Generation
	case !isStatus(err, http.StatusNotFound):
		return "", fmt.Errorf("gcs sink %s: %w", key, err)
	}
	src := &readErr{r: sink.ContextReader{Ctx: ctx, R: r}}
	opts := []googleapi.MediaOption{googleapi.ChunkSize(gcsChunk)}
	if contentType != "" {
		opts = append(opts, googleapi.ContentType(contentType))
	}
	_, err = g.svc.Objects.Insert(g.bucket, &storage.Object{Name: name, ContentType: contentType}).
		IfGenerationMatch(generation).Media(src, opts...).Context(ctx).Do()
	switch {
	case src.err != nil:
		// The source failed: the upload was never finalised, nothing is visible.
		return "", fmt.Errorf("gcs sink %s: %w", key, src.err)
	case isStatus(err, http.StatusPreconditionFailed):
		return "", fmt.Errorf("gcs sink %s: written concurrently by someone else: %w", key, err)
	case err != nil:
		return "", fmt.Errorf("gcs sink %s: %w", key, err)
	}
	return g.URI(key), nil
}

// Open streams the object at key.
func (g *GCS) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	name, err := g.name(key)
	if err != nil {
		return nil, err
	}
	d, err := g.download(ctx, g.bucket, name)
	if err != nil {
		return nil, fmt.Errorf("gcs sink %s: %w", key, err)
	}
	return d.Body, nil
}

// URI names key for people.
func (g *GCS) URI(key string) string { return "gs://" + g.bucket + "/" + g.prefix + key }

// Fetch opens a gs:// source (a batch whose output went to Cloud Storage).
func (g *GCS) Fetch(ctx context.Context, source string) (*jobs.Download, error) {
	bucket, name, err := ParseGS(source)
	if err != nil || name == "" {
		return nil, fmt.Errorf("gcs fetch %q: not a gs://bucket/object URI", source)
	}
	d, err := g.download(ctx, bucket, name)
	if err != nil {
		return nil, fmt.Errorf("gcs fetch %s: %w", source, err)
	}
	return d, nil
}

// download opens bucket/name; the size and type come from the answer's
// headers (no second request).
func (g *GCS) download(ctx context.Context, bucket, name string) (*jobs.Download, error) {
	resp, err := g.svc.Objects.Get(bucket, name).Context(ctx).Download()
	if isStatus(err, http.StatusNotFound) {
		return nil, core.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return &jobs.Download{Body: resp.Body, Size: resp.ContentLength, ContentType: resp.Header.Get("Content-Type")}, nil
}

func isStatus(err error, code int) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == code
}

// readErr remembers its source's error: the upload library reports a
// failed read as a failed upload, and the caller must tell the two apart.
type readErr struct {
	r   io.Reader
	err error
}

func (e *readErr) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}
