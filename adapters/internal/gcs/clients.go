package gcs

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"

	"google.golang.org/api/option"
	storage "google.golang.org/api/storage/v1"

	"github.com/geminiwebhooks/receiver/adapters/internal/wire"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

// Clients builds the Cloud Storage client once, on first use (it looks for
// credentials, which a local server landing in a folder never needs). Like
// Google's clients it honours STORAGE_EMULATOR_HOST (host:port or a URL),
// then unauthenticated.
type Clients struct {
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
		if host := strings.TrimSpace(os.Getenv("STORAGE_EMULATOR_HOST")); host != "" {
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

// Cloud is the gs:// results sink and the gs:// source reader (batch
// outputs a Vertex AI batch wrote to a bucket), for wire.
func (c *Clients) Cloud() wire.Cloud {
	return wire.Cloud{
		Sinks: map[string]wire.OpenSink{"gs": func(ctx context.Context, uri string) (jobs.Sink, error) {
			svc, err := c.Service(ctx)
			if err != nil {
				return nil, err
			}
			return New(svc, uri)
		}},
		Sources: map[string]jobs.Fetcher{"gs": fetcher{c}},
	}
}

// fetcher reads gs:// sources with the lazily built client.
type fetcher struct{ c *Clients }

func (f fetcher) Fetch(ctx context.Context, source string) (*jobs.Download, error) {
	svc, err := f.c.Service(ctx)
	if err != nil {
		return nil, err
	}
	return (&GCS{svc: svc}).Fetch(ctx, source)
}
