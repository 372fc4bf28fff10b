package jobs

import (
	"context"
	"fmt"
	"io"
)

// Batches looks a batch up through the Gemini API.
type Batches interface {
	GetBatch(ctx context.Context, name string) (BatchStatus, error)
}

// Download is a job's output, opened for streaming.
type Download struct {
	Body        io.ReadCloser
	Size        int64 // from the file's metadata; -1 when unknown
	ContentType string
	// Origin is where the API says the file came from (OriginGenerated,
	// "UPLOADED", …); "" when the fetcher does not know.
	Origin string
}

// Fetcher opens a job's output (a Files API name "files/…" or a gs:// URI).
type Fetcher interface {
	Fetch(ctx context.Context, source string) (*Download, error)
}

// fetchChecker is implemented by a Fetcher that can tell, without a call,
// that this configuration cannot fetch a source (files/… without an API
// key): the job is then recorded as skipped with the reason instead of being
// retried into a dead letter.
type fetchChecker interface {
	CanFetch(source string) error
}

// Sink is where outputs land (RESULTS_SINK): a folder, gs:// or s3://.
//
// Put streams r to key atomically: readers see the whole object or none,
// never a part, and an object an earlier attempt left at key is replaced,
// never duplicated. Put reads r to EOF; if reading fails it writes nothing
// and returns the error. Open streams the object at key and fails with
// core.ErrNotFound when it does not exist. URI names key for people.
type Sink interface {
	Put(ctx context.Context, key string, r io.Reader, contentType string) (uri string, err error)
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	URI(key string) string
}

// ReadSmall reads the object at key from s, refusing one over max bytes.
func ReadSmall(ctx context.Context, s Sink, key string, max int64) ([]byte, error) {
	r, err := s.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("sink %s: %w", key, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("sink %s: larger than %d bytes", key, max)
	}
	return b, nil
}
