package core

import (
	"context"
	"errors"
	"io"
)

// ErrNotFound: the object, file or batch does not exist.
var ErrNotFound = errors.New("not found")

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

// FetchChecker is implemented by a Fetcher that can tell, without a call,
// that this configuration cannot fetch a source (files/… without an API
// key): the job is then recorded as skipped with the reason instead of being
// retried into a dead letter.
type FetchChecker interface {
	CanFetch(source string) error
}

// Sink is where outputs land (RESULTS_SINK): a folder, gs:// or s3://.
//
// Put streams r to key atomically: readers see the whole object or none,
// never a part, and an object an earlier attempt left at key is replaced,
// never duplicated. Put reads r to EOF; if reading fails it writes nothing
// and returns the error. Get reads a small object (at most max bytes) and
// fails with ErrNotFound when it does not exist. URI names key for people.
type Sink interface {
	Put(ctx context.Context, key string, r io.Reader, contentType string) (uri string, err error)
	Get(ctx context.Context, key string, max int64) ([]byte, error)
	URI(key string) string
}
