package gemini

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"google.golang.org/genai"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

// Defaults of Config.
const (
	defaultCallTimeout = 30 * time.Second
	defaultIdleTimeout = 60 * time.Second
)

// Config says how to reach the API. Empty fields fall back to what the SDK
// reads from the environment (GEMINI_API_KEY or GOOGLE_API_KEY,
// GOOGLE_GEMINI_BASE_URL).
type Config struct {
	APIKey     string
	BaseURL    string
	HTTPClient *http.Client // nil: one with header timeouts and no overall timeout (downloads are long)

	CallTimeout time.Duration // bound of each metadata call; 0: 30 s
	IdleTimeout time.Duration // a download that makes no progress for this long fails; 0: 60 s
}

// Client implements core.Batches and core.Fetcher (for files/… sources).
type Client struct {
	sdk        *genai.Client
	base       *url.URL
	apiVersion string
	apiKey     string
	http       *http.Client
	callTO     time.Duration
	idleTO     time.Duration
}

var (
	_ jobs.Batches = (*Client)(nil)
	_ jobs.Fetcher = (*Client)(nil)
)

// New builds the client; it makes no network call.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.HTTPClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.ResponseHeaderTimeout = 30 * time.Second
		cfg.HTTPClient = &http.Client{Transport: tr}
	}
	// A copy, so the caller's client is not changed: the API key must never
	// follow a redirect to another origin (Go drops Authorization on a
	// cross-host redirect, not x-goog-api-key).
	hc := *cfg.HTTPClient
	hc.CheckRedirect = keepKeyHome(cfg.HTTPClient.CheckRedirect)
	cfg.HTTPClient = &hc
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = defaultCallTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = defaultIdleTimeout
	}
	sdk, err := genai.NewClient(ctx, &genai.ClientConfig{
		APIKey:      cfg.APIKey,
		Backend:     genai.BackendGeminiAPI,
		HTTPClient:  cfg.HTTPClient,
		HTTPOptions: genai.HTTPOptions{BaseURL: cfg.BaseURL},
	})
	if err != nil {
		return nil, fmt.Errorf("gemini client: %w", err)
	}
	// The SDK has resolved key, base URL and version (from cfg or the
	// environment); downloads use exactly the same.
	cc := sdk.ClientConfig()
	base, err := url.Parse(cc.HTTPOptions.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("gemini base URL: %w", err)
	}
	return &Client{
		sdk: sdk, base: base, apiVersion: cc.HTTPOptions.APIVersion, apiKey: cc.APIKey,
		http: cc.HTTPClient, callTO: cfg.CallTimeout, idleTO: cfg.IdleTimeout,
	}, nil
}

// GetBatch asks the API for the batch's state and output.
func (c *Client) GetBatch(ctx context.Context, name string) (jobs.BatchStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, c.callTO)
	defer cancel()
	// The name goes into the request path: only a well-formed batch name may
	// (no query, no "..", no other resource).
	if err := core.ValidJobID("batch", name); err != nil {
		return jobs.BatchStatus{}, fmt.Errorf("gemini batches.get: %w", err)
	}
	b, err := c.sdk.Batches.Get(ctx, name, nil)
	if err != nil {
		return jobs.BatchStatus{}, apiError(err)
	}
	if b.Name != name {
		return jobs.BatchStatus{}, fmt.Errorf("gemini batches.get %s: the API answered for %q", name, truncateName(b.Name))
	}
	st := jobs.BatchStatus{Name: name, APIState: string(b.State), State: jobState(b.State)}
	if b.Error != nil {
		st.ErrorCode, st.ErrorMessage = fmt.Sprint(b.Error.Code), b.Error.Message
	}
	if d := b.Dest; d != nil {
		switch {
		case d.FileName != "":
			st.OutputFile = d.FileName
		case d.GCSURI != "":
			st.OutputFile = d.GCSURI
		case len(d.InlinedResponses) > 0:
			st.Inline, err = jsonLines(d.InlinedResponses)
		case len(d.InlinedEmbedContentResponses) > 0:
			st.Inline, err = jsonLines(d.InlinedEmbedContentResponses)
		}
	}
	return st, err
}

// jsonLines writes each response as one line, the format of an output file
// ("response" or "error" per line).
func jsonLines[T any](items []T) ([]byte, error) {
	var out []byte
	for _, it := range items {
		b, err := json.Marshal(it)
		if err != nil {
			return nil, err
		}
		out = append(append(out, b...), '\n')
	}
	return out, nil
}

func jobState(s genai.JobState) jobs.JobState {
	switch s {
	case genai.JobStateSucceeded, genai.JobStatePartiallySucceeded:
		return jobs.JobSucceeded
	case genai.JobStateFailed:
		return jobs.JobFailed
	case genai.JobStateCancelled:
		return jobs.JobCancelled
	case genai.JobStateExpired:
		return jobs.JobExpired
	case genai.JobStateRunning, genai.JobStateCancelling, genai.JobStateUpdating, genai.JobStatePaused:
		return jobs.JobRunning
	}
	return jobs.JobPending
}

// Fetch opens a Files API file ("files/…") for streaming: its metadata
// gives the size the download must have.
func (c *Client) Fetch(ctx context.Context, source string) (*jobs.Download, error) {
	name := jobs.FileName(source)
	if name == "" {
		return nil, fmt.Errorf("gemini fetch %q: not a Files API name", source)
	}
	mctx, cancel := context.WithTimeout(ctx, c.callTO)
	f, err := c.sdk.Files.Get(mctx, name, nil)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("gemini files.get %s: %w", name, apiError(err))
	}
	if f.Name != name {
		return nil, fmt.Errorf("gemini files.get %s: the API answered for %q", name, truncateName(f.Name))
	}
	if f.State == genai.FileStateFailed {
		msg := "file processing failed"
		if f.Error != nil {
			msg = f.Error.Message
		}
		return nil, fmt.Errorf("gemini file %s: %s", name, msg)
	}
	size := int64(-1)
	if f.SizeBytes != nil {
		size = *f.SizeBytes
	}
	body, n, err := c.download(ctx, name)
	if err != nil {
		return nil, err
	}
	if size >= 0 && n >= 0 && n != size {
		body.Close()
		return nil, fmt.Errorf("gemini download %s: %w: Content-Length %d, metadata %d", name, jobs.ErrSizeMismatch, n, size)
	}
	if size < 0 {
		size = n
	}
	return &jobs.Download{Body: body, Size: size, ContentType: f.MIMEType, Origin: string(f.Source)}, nil
}

// download GETs files/ID:download?alt=media the way the SDK's Files.Download
// builds it, but hands back the body instead of reading it all.
func (c *Client) download(ctx context.Context, name string) (io.ReadCloser, int64, error) {
	u := c.base.JoinPath(c.apiVersion, name+":download")
	u.RawQuery = "alt=media"
	dctx, cancel := context.WithCancelCause(ctx)
	req, err := http.NewRequestWithContext(dctx, http.MethodGet, u.String(), nil)
	if err != nil {
		cancel(nil)
		return nil, 0, err
	}
	if c.apiKey != "" {
		req.Header.Set("x-goog-api-key", c.apiKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		cancel(nil)
		return nil, 0, fmt.Errorf("gemini download %s: %w", name, err)
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		cancel(nil)
		err := fmt.Errorf("gemini download %s: status %d: %s", name, resp.StatusCode, strings.TrimSpace(string(msg)))
		if resp.StatusCode == http.StatusNotFound {
			err = fmt.Errorf("%w: %w", core.ErrNotFound, err)
		}
		return nil, 0, err
	}
	return newIdleReader(resp.Body, c.idleTO, cancel), resp.ContentLength, nil
}

// idleReader fails a download that stops making progress: the request's
// context is cancelled when no byte arrives for the idle timeout.
type idleReader struct {
	body   io.ReadCloser
	idle   time.Duration
	timer  *time.Timer
	cancel context.CancelCauseFunc
	once   sync.Once
}

var errStalled = errors.New("download stalled")

func newIdleReader(body io.ReadCloser, idle time.Duration, cancel context.CancelCauseFunc) *idleReader {
	r := &idleReader{body: body, idle: idle, cancel: cancel}
	r.timer = time.AfterFunc(idle, func() { cancel(fmt.Errorf("%w: no data for %s", errStalled, idle)) })
	return r
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.body.Read(p)
	if n > 0 {
		r.timer.Reset(r.idle)
	}
	return n, err
}

func (r *idleReader) Close() error {
	var err error
	r.once.Do(func() {
		r.timer.Stop()
		err = r.body.Close()
		r.cancel(nil)
	})
	return err
}

// apiError marks the API's 404 with core.ErrNotFound.
func apiError(err error) error {
	var ae genai.APIError
	if errors.As(err, &ae) && ae.Code == http.StatusNotFound {
		return fmt.Errorf("%w: %w", core.ErrNotFound, err)
	}
	var aep *genai.APIError
	if errors.As(err, &aep) && aep.Code == http.StatusNotFound {
		return fmt.Errorf("%w: %w", core.ErrNotFound, err)
	}
	return err
}

// keepKeyHome wraps a CheckRedirect: a redirect to another origin (scheme,
// host and port) loses the API key, and one from https to http is refused.
// next (nil: Go's default of 10 redirects) still decides the rest.
func keepKeyHome(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		first := via[0].URL
		if first.Scheme == "https" && req.URL.Scheme != "https" {
			return fmt.Errorf("gemini: refusing a redirect from https to %s", req.URL.Scheme)
		}
		if req.URL.Scheme != first.Scheme || !strings.EqualFold(req.URL.Host, first.Host) {
			req.Header.Del("x-goog-api-key")
			req.Header.Del("Authorization")
			if q := req.URL.Query(); q.Has("key") {
				q.Del("key")
				req.URL.RawQuery = q.Encode()
			}
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("gemini: stopped after 10 redirects")
		}
		return nil
	}
}

// truncateName bounds a name the API returned before it goes into an error.
func truncateName(s string) string {
	if len(s) > 128 {
		return s[:128] + "..."
	}
	return s
}

var _ jobs.Interactions = (*Client)(nil)

// GetInteraction asks the API for an interaction's state
// (GET {base}/{version}/interactions/{id}, the Interactions API the SDK's
// interactions package calls), through the same HTTP client and key as
// every other call, so the same redirect rule applies.
func (c *Client) GetInteraction(ctx context.Context, name string) (jobs.InteractionStatus, error) {
	// The id goes into the request path: one plain segment only.
	id, ok := strings.CutPrefix(name, "interactions/")
	if !ok || !plainSegment(id) {
		return jobs.InteractionStatus{}, fmt.Errorf("gemini interactions.get: invalid interaction id: want interactions/[A-Za-z0-9_-]+")
	}
	ctx, cancel := context.WithTimeout(ctx, c.callTO)
	defer cancel()
	u := c.base.JoinPath(c.apiVersion, "interactions", id)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return jobs.InteractionStatus{}, err
	}
	if c.apiKey != "" {
		req.Header.Set("x-goog-api-key", c.apiKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return jobs.InteractionStatus{}, fmt.Errorf("gemini interactions.get %s: %w", name, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("gemini interactions.get %s: status %d: %s", name, resp.StatusCode, truncateName(strings.TrimSpace(string(body))))
		if resp.StatusCode == http.StatusNotFound {
			err = fmt.Errorf("%w: %w", core.ErrNotFound, err)
		}
		return jobs.InteractionStatus{}, err
	}
	var it struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(body, &it); err != nil {
		return jobs.InteractionStatus{}, fmt.Errorf("gemini interactions.get %s: %w", name, err)
	}
	if it.ID != id && it.ID != name {
		return jobs.InteractionStatus{}, fmt.Errorf("gemini interactions.get %s: the API answered for %q", name, truncateName(it.ID))
	}
	st := jobs.InteractionStatus{Name: name, APIState: it.Status, State: interactionState(it.Status)}
	if len(it.Errors) > 0 {
		st.ErrorCode, st.ErrorMessage = it.Errors[0].Code, it.Errors[0].Message
	}
	return st, nil
}

// interactionState maps the Interactions API's status to the ledger's.
func interactionState(s string) jobs.JobState {
	switch s {
	case "completed":
		return jobs.JobSucceeded
	case "failed", "incomplete", "budget_exceeded":
		return jobs.JobFailed
	case "cancelled":
		return jobs.JobCancelled
	case "requires_action":
		return jobs.JobRequiresAction
	case "in_progress", "queued", "requires_continuation":
		return jobs.JobRunning
	}
	return jobs.JobPending
}

// plainSegment reports whether s is a non-empty [A-Za-z0-9_-]+.
func plainSegment(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

var _ jobs.Files = (*Client)(nil)

// StatFile asks the Files API about a file: its state, where it came from
// and its type, for the name asked only.
func (c *Client) StatFile(ctx context.Context, name string) (jobs.FileStatus, error) {
	if jobs.FileName(name) != name {
		return jobs.FileStatus{}, fmt.Errorf("gemini files.get %q: not a Files API name", truncateName(name))
	}
	ctx, cancel := context.WithTimeout(ctx, c.callTO)
	defer cancel()
	f, err := c.sdk.Files.Get(ctx, name, nil)
	if err != nil {
		return jobs.FileStatus{}, apiError(err)
	}
	if f.Name != name {
		return jobs.FileStatus{}, fmt.Errorf("gemini files.get %s: the API answered for %q", name, truncateName(f.Name))
	}
	st := jobs.FileStatus{Name: name, State: string(f.State), Origin: string(f.Source), ContentType: f.MIMEType}
	if f.Error != nil {
		st.ErrorMessage = f.Error.Message
	}
	return st, nil
}

// SDK is the client's google.golang.org/genai client: the same key, base
// URL, HTTP client and redirect rule, for StartModelInteraction and
// StartAgentInteraction.
func (c *Client) SDK() *genai.Client { return c.sdk }
