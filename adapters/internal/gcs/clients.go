package gcs

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"google.golang.org/api/option"
	storage "google.golang.org/api/storage/v1"

	"github.com/geminiwebhooks/receiver/core/jobs"
)

// Clients builds the Cloud Storage client once, on first use (it looks for
// credentials, which a local server landing in a folder never needs).
// adapters/internal/wire's GoogleCloud offers it to a runtime as the gs:// sink and
// reader.
type Clients struct {
	// EmulatorHost is STORAGE_EMULATOR_HOST (env.Config.StorageEmulatorHost):
	// host:port or a URL, reached without credentials, as Google's clients
	// do. Empty: Cloud Storage.
	EmulatorHost string
	// Options are added to the client's (tests: an emulator's endpoint).
	Options []option.ClientOption

	once sync.Once
	svc  *storage.Service
	err  error
}

// Service is the process's Cloud Storage client.
func (c *Clients) Service(ctx context.Context) (*storage.Service, error) {
	c.once.Do(func() {
		opts := []option.ClientOption{option.WithScopes(storage.DevstorageReadWriteScope)}
		if host := c.EmulatorHost; host != "" {
			if !strings.Contains(host, "://") {
				host = "http://" + host
			}
			opts = []option.ClientOption{option.WithEndpoint(strings.TrimSuffix(host, "/") + "/storage/v1/"), option.WithoutAuthentication()}
		}
		c.svc, c.err = storage.NewService(context.WithoutCancel(ctx), append(opts, c.Options...)...)
		if c.err != nil {
			c.err = fmt.Errorf("cloud storage client: %w", c.err)
		}
	})
	return c.svc, c.err
}

// OpenSink opens the gs:// results sink uri (RESULTS_SINK=gs://BUCKET/PREFIX).
func (c *Clients) OpenSink(ctx context.Context, uri string) (jobs.Sink, error) {
	svc, err := c.Service(ctx)
	if err != nil {
		return nil, err
	}
	return New(svc, uri)
}

// Fetch reads a gs:// source (the outputs a Vertex AI batch wrote to a
// bucket) with the lazily built client.
func (c *Clients) Fetch(ctx context.Context, source string) (*jobs.Download, error) {
	svc, err := c.Service(ctx)
	if err != nil {
		return nil, err
	}
	return (&GCS{svc: svc}).Fetch(ctx, source)
}
