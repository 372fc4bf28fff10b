package gcs

import (
	"context"
	"fmt"
	"sync"

	"cloud.google.com/go/storage"

	"github.com/geminiwebhooks/receiver/adapters/wire"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

// Clients builds the Cloud Storage client once, on first use (it looks for
// credentials, which a local server landing in a folder never needs). The
// client honours STORAGE_EMULATOR_HOST.
type Clients struct {
	once   sync.Once
	client *storage.Client
	err    error
}

// Client is the process's Cloud Storage client.
func (c *Clients) Client(ctx context.Context) (*storage.Client, error) {
	c.once.Do(func() {
		c.client, c.err = storage.NewClient(context.WithoutCancel(ctx))
		if c.err != nil {
			c.err = fmt.Errorf("cloud storage client: %w", c.err)
		}
	})
	return c.client, c.err
}

// Close closes the client if it was built.
func (c *Clients) Close() error {
	if c.client != nil {
		return c.client.Close()
	}
	return nil
}

// Cloud is the gs:// results sink and the gs:// source reader (batch
// outputs a Vertex AI batch wrote to a bucket), for wire.
func (c *Clients) Cloud() wire.Cloud {
	return wire.Cloud{
		Sinks: map[string]wire.OpenSink{"gs": func(ctx context.Context, uri string) (jobs.Sink, error) {
			client, err := c.Client(ctx)
			if err != nil {
				return nil, err
			}
			return New(client, uri)
		}},
		Sources: map[string]jobs.Fetcher{"gs": fetcher{c}},
		Close:   c.Close,
	}
}

// fetcher reads gs:// sources with the lazily built client.
type fetcher struct{ c *Clients }

func (f fetcher) Fetch(ctx context.Context, source string) (*jobs.Download, error) {
	client, err := f.c.Client(ctx)
	if err != nil {
		return nil, err
	}
	g := &GCS{client: client}
	return g.Fetch(ctx, source)
}
