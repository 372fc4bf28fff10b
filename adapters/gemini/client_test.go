package gemini_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/geminiwebhooks/receiver/adapters/gemini"
	"github.com/geminiwebhooks/receiver/adapters/gemini/geminitest"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

func newClient(t *testing.T, s *geminitest.Server, key string) *gemini.Client {
	t.Helper()
	c, err := gemini.New(context.Background(), gemini.Config{APIKey: key, BaseURL: s.URL})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGetBatch(t *testing.T) {
	s := geminitest.New("k")
	defer s.Close()
	s.AddBatch("batches/ok", geminitest.Batch{State: "BATCH_STATE_SUCCEEDED", OutputFile: "files/out-ok"})
	s.AddBatch("batches/bad", geminitest.Batch{State: "BATCH_STATE_FAILED", ErrorCode: 3, ErrorMessage: "invalid input"})
	s.AddBatch("batches/run", geminitest.Batch{State: "BATCH_STATE_RUNNING"})
	s.AddBatch("batches/inl", geminitest.Batch{State: "BATCH_STATE_SUCCEEDED", Inline: []map[string]any{
		{"response": map[string]any{"candidates": []any{}}}, {"error": map[string]any{"code": 3, "message": "bad"}},
	}})
	c := newClient(t, s, "k")
	ctx := context.Background()
	for _, tc := range []struct {
		name, api string
		state     jobs.JobState
		file      string
	}{
		{"batches/ok", "JOB_STATE_SUCCEEDED", jobs.JobSucceeded, "files/out-ok"},
		{"batches/bad", "JOB_STATE_FAILED", jobs.JobFailed, ""},
		{"batches/run", "JOB_STATE_RUNNING", jobs.JobRunning, ""},
	} {
		st, err := c.GetBatch(ctx, tc.name)
		if err != nil || st.APIState != tc.api || st.State != tc.state || st.OutputFile != tc.file {
			t.Errorf("%s: %+v, %v", tc.name, st, err)
		}
	}
	st, err := c.GetBatch(ctx, "batches/inl")
	if err != nil || strings.Count(string(st.Inline), "\n") != 2 || !strings.Contains(string(st.Inline), `"error"`) {
		t.Fatalf("inline: %q, %v", st.Inline, err)
	}
	if _, err := c.GetBatch(ctx, "batches/none"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("unknown batch: %v, want ErrNotFound", err)
	}
	if s.BatchGets("batches/ok") != 1 {
		t.Fatalf("%d gets", s.BatchGets("batches/ok"))
	}
	if _, err := newClient(t, s, "wrong").GetBatch(ctx, "batches/ok"); err == nil || errors.Is(err, core.ErrNotFound) {
		t.Fatalf("wrong key: %v", err)
	}
}

// Without explicit settings the client takes the key and the base URL
// from the environment, as the SDK does.
func TestEnvironment(t *testing.T) {
	s := geminitest.New("env-key")
	defer s.Close()
	s.AddBatch("batches/e", geminitest.Batch{State: "BATCH_STATE_CANCELLED"})
	t.Setenv("GOOGLE_API_KEY", "")
	t.Setenv("GEMINI_API_KEY", "env-key")
	t.Setenv("GOOGLE_GEMINI_BASE_URL", s.URL)
	c, err := gemini.New(context.Background(), gemini.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := c.GetBatch(context.Background(), "batches/e"); err != nil || st.State != jobs.JobCancelled {
		t.Fatalf("%+v, %v", st, err)
	}
}

func TestFetchStreams(t *testing.T) {
	s := geminitest.New("k")
	defer s.Close()
	f := geminitest.File{Name: "files/big", Size: 3<<20 + 5, Seed: 9}
	s.AddFile(f)
	s.AddFile(geminitest.File{Name: "files/cut", Size: 1 << 20, CutAfter: 300 << 10, CutTimes: 1})
	s.AddFile(geminitest.File{Name: "files/liar", Size: 1000, WrongSize: 999})
	c := newClient(t, s, "k")
	ctx := context.Background()

	d, err := c.Fetch(ctx, "files/big")
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, d.Body)
	d.Body.Close()
	want := geminitest.Expect(f)
	if err != nil || n != want.Bytes || d.Size != want.Bytes || hex.EncodeToString(h.Sum(nil)) != want.SHA256 || d.ContentType != "application/jsonl" {
		t.Fatalf("download: %d bytes (size %d), %v", n, d.Size, err)
	}

	d, err = c.Fetch(ctx, "files/cut")
	if err != nil {
		t.Fatal(err)
	}
	n, err = io.Copy(io.Discard, d.Body)
	d.Body.Close()
	if err == nil || n >= 1<<20 {
		t.Fatalf("cut download: %d bytes, err %v; want an error", n, err)
	}
	if s.Downloads("files/cut") != 1 {
		t.Fatal("download not counted")
	}

	if _, err := c.Fetch(ctx, "files/liar"); !errors.Is(err, jobs.ErrSizeMismatch) {
		t.Fatalf("size mismatch: %v", err)
	}
	if _, err := c.Fetch(ctx, "files/none"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := c.Fetch(ctx, "gs://b/o"); err == nil {
		t.Fatal("gs:// accepted by the Gemini fetcher")
	}
}
