package gemini_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/geminiwebhooks/receiver/adapters/gemini"
	"github.com/geminiwebhooks/receiver/adapters/gemini/geminitest"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

// keyCatcher is another origin: it records the API keys it is handed.
type keyCatcher struct {
	*httptest.Server
	mu   sync.Mutex
	hits int
	keys []string
}

func newKeyCatcher(t *testing.T) *keyCatcher {
	k := &keyCatcher{}
	k.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k.mu.Lock()
		k.hits++
		if v := r.Header.Get("x-goog-api-key"); v != "" {
			k.keys = append(k.keys, v)
		}
		if v := r.URL.Query().Get("key"); v != "" {
			k.keys = append(k.keys, v)
		}
		k.mu.Unlock()
		http.Error(w, `{"error":{"code":404,"message":"nope"}}`, http.StatusNotFound)
	}))
	t.Cleanup(k.Close)
	return k
}

// Issue 13, finding 5: the API key does not follow a redirect to another
// origin, neither from an SDK call nor from the streaming download.
func TestAPIKeyStaysOnItsOrigin(t *testing.T) {
	tests := []struct {
		name string
		call func(ctx context.Context, c *gemini.Client) error
		path string // the request the API answers with a redirect
	}{
		{"batches.get", func(ctx context.Context, c *gemini.Client) error {
			_, err := c.GetBatch(ctx, "batches/redir")
			return err
		}, "/v1beta/batches/redir"},
		{"download", func(ctx context.Context, c *gemini.Client) error { _, err := c.Fetch(ctx, "files/redir"); return err }, "/v1beta/files/redir:download"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := geminitest.New("secret-key")
			defer s.Close()
			s.AddFile(geminitest.File{Name: "files/redir", Size: 100})
			other := newKeyCatcher(t)
			front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == tc.path {
					http.Redirect(w, r, other.URL+r.URL.RequestURI(), http.StatusFound)
					return
				}
				s.Config.Handler.ServeHTTP(w, r)
			}))
			defer front.Close()
			c, err := gemini.New(context.Background(), gemini.Config{APIKey: "secret-key", BaseURL: front.URL})
			if err != nil {
				t.Fatal(err)
			}
			_ = tc.call(context.Background(), c) // the other origin answers 404: an error either way
			other.mu.Lock()
			defer other.mu.Unlock()
			if other.hits == 0 {
				t.Fatal("the redirect was not followed: the test proves nothing")
			}
			if len(other.keys) > 0 {
				t.Fatalf("the API key went to another origin: %q", other.keys)
			}
		})
	}
}

// Issue 13, finding 6: a batch name is validated before it goes into the
// request path, and the API's answer must be for the name asked.
func TestBatchNameChecked(t *testing.T) {
	var requests atomic.Int64
	var answerFor atomic.Value
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		name, _ := answerFor.Load().(string)
		if name == "" {
			name = strings.TrimPrefix(r.URL.Path, "/v1beta/")
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"name":"` + name + `","metadata":{"state":"BATCH_STATE_SUCCEEDED","output":{"responsesFile":"files/out"}},"done":true}`))
	}))
	defer api.Close()
	c, err := gemini.New(context.Background(), gemini.Config{APIKey: "k", BaseURL: api.URL})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		answerFor string // "" answers for the path asked
		wantErr   bool
		wantCalls int64
	}{
		{"batches/t1", "", false, 1},
		{"batches/t4?key=x&$fields=name", "", true, 0},
		{"x/../batches/t3", "", true, 0},
		{"batches/../files/secret", "", true, 0},
		{"batches/t5/extra", "", true, 0},
		{"files/abc", "", true, 0},
		{"batches/t2", "batches/other", true, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			requests.Store(0)
			answerFor.Store(tc.answerFor)
			st, err := c.GetBatch(context.Background(), tc.name)
			if (err != nil) != tc.wantErr {
				t.Fatalf("GetBatch(%q) = %+v, %v; want error %v", tc.name, st, err, tc.wantErr)
			}
			if got := requests.Load(); got != tc.wantCalls {
				t.Fatalf("%d API requests, want %d", got, tc.wantCalls)
			}
		})
	}
}

// Issue 13, finding 4: an interaction's end is read from the API, for the
// name asked, and a malformed name never reaches the request path.
func TestGetInteraction(t *testing.T) {
	s := geminitest.New("k")
	defer s.Close()
	s.AddInteraction("done", geminitest.Interaction{Status: "completed"})
	s.AddInteraction("bad", geminitest.Interaction{Status: "failed", ErrorMessage: "quota"})
	s.AddInteraction("busy", geminitest.Interaction{Status: "in_progress"})
	c := newClient(t, s, "k")
	tests := []struct {
		name    string
		state   jobs.JobState
		msg     string
		wantErr error // nil: no error; errAny: some error
	}{
		{"interactions/done", jobs.JobSucceeded, "", nil},
		{"interactions/bad", jobs.JobFailed, "quota", nil},
		{"interactions/busy", jobs.JobRunning, "", nil},
		{"interactions/none", "", "", core.ErrNotFound},
		{"interactions/x/../../batches/y", "", "", errAny},
		{"interactions/a?key=z", "", "", errAny},
		{"batches/done", "", "", errAny},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := c.GetInteraction(context.Background(), tc.name)
			switch {
			case tc.wantErr == nil && (err != nil || st.State != tc.state || st.ErrorMessage != tc.msg):
				t.Fatalf("%+v, %v; want %s %q", st, err, tc.state, tc.msg)
			case tc.wantErr == errAny && err == nil:
				t.Fatalf("%+v accepted", st)
			case tc.wantErr != nil && tc.wantErr != errAny && !errors.Is(err, tc.wantErr):
				t.Fatalf("%v, want %v", err, tc.wantErr)
			}
		})
	}
}

var errAny = errors.New("any error")

func TestStatFile(t *testing.T) {
	s := geminitest.New("k")
	defer s.Close()
	s.AddFile(geminitest.File{Name: "files/gen", MIMEType: "video/mp4", Size: 10})
	s.AddFile(geminitest.File{Name: "files/up", MIMEType: "video/mp4", Size: 10, Source: "UPLOADED"})
	c := newClient(t, s, "k")
	tests := []struct {
		name, origin string
		wantErr      error
	}{
		{"files/gen", jobs.OriginGenerated, nil},
		{"files/up", "UPLOADED", nil},
		{"files/none", "", core.ErrNotFound},
		{"files/../batches/x", "", errAny},
		{"files/a?key=x", "", errAny},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := c.StatFile(context.Background(), tc.name)
			switch {
			case tc.wantErr == nil && (err != nil || st.Origin != tc.origin || st.State != "ACTIVE" || st.ContentType != "video/mp4"):
				t.Fatalf("%+v, %v; want origin %s", st, err, tc.origin)
			case tc.wantErr == errAny && err == nil:
				t.Fatalf("%+v accepted", st)
			case tc.wantErr != nil && tc.wantErr != errAny && !errors.Is(err, tc.wantErr):
				t.Fatalf("%v, want %v", err, tc.wantErr)
			}
		})
	}
}
