package wire_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/gemini/geminitest"
	"github.com/geminiwebhooks/receiver/adapters/internal/wire"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
	"github.com/geminiwebhooks/receiver/core/reconcile"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
)

// The proofs of reconcile, with the receiver as wire builds it (bbolt store,
// ledger and queue, folder sink) and the Gemini API stand-in holding 50
// finished batches, of which the receiver got webhooks for 30.

// finished is the i-th batch's state and event type, in turn succeeded,
// failed, cancelled, expired.
func finished(i int) (string, string) {
	switch i % 4 {
	case 0:
		return "BATCH_STATE_SUCCEEDED", core.BatchSucceeded
	case 1:
		return "BATCH_STATE_FAILED", core.BatchFailed
	case 2:
		return "BATCH_STATE_CANCELLED", core.BatchCancelled
	}
	return "BATCH_STATE_EXPIRED", core.BatchExpired
}

// handlerCount counts the user's handler runs per job.
type handlerCount struct {
	mu  sync.Mutex
	per map[string]int
}

func (h *handlerCount) handle(_ context.Context, ev *core.Event) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.per[ev.JobID()]++
	return nil
}

func (h *handlerCount) of(job string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.per[job]
}

func (h *handlerCount) snapshot() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]int, len(h.per))
	for k, v := range h.per {
		out[k] = v
	}
	return out
}

type fixture struct {
	api      *geminitest.Server
	r        *receiver
	handlers *handlerCount
	names    []string
	events   []string
	logs     *syncBuf
}

// syncBuf is a log buffer safe for the reconcile's concurrent writers.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newFixture starts the stand-in with n finished batches and the receiver
// with a mux whose handlers count their runs.
func newFixture(t *testing.T, n int, extra ...string) *fixture {
	t.Helper()
	api := geminitest.New(apiKey)
	t.Cleanup(api.Close)
	f := &fixture{api: api, handlers: &handlerCount{per: map[string]int{}}, logs: &syncBuf{}}
	for i := range n {
		name := fmt.Sprintf("batches/rec%03d", i)
		state, typ := finished(i)
		b := geminitest.Batch{State: state}
		if typ == core.BatchSucceeded {
			b.OutputFile = fmt.Sprintf("files/out-rec%03d", i)
			api.AddFile(geminitest.File{Name: b.OutputFile, Size: 4 << 10, Seed: int64(i)})
		}
		if typ == core.BatchFailed {
			b.ErrorCode, b.ErrorMessage = 3, "invalid request"
		}
		api.AddBatch(name, b)
		f.names, f.events = append(f.names, name), append(f.events, typ)
	}
	mux := core.NewMux()
	for _, typ := range []string{core.BatchSucceeded, core.BatchFailed, core.BatchCancelled, core.BatchExpired} {
		mux.On(typ, f.handlers.handle)
	}
	dir := t.TempDir()
	vars := map[string]string{
		"WEBHOOK_SIGNING_SECRET": secret,
		"STATE_PATH":             filepath.Join(dir, "state.db"),
		"RESULTS_SINK":           filepath.Join(dir, "results"),
		"GEMINI_API_KEY":         apiKey,
		"GOOGLE_GEMINI_BASE_URL": api.URL,
		"RETRY_BACKOFF":          "50ms",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		vars[extra[i]] = extra[i+1]
	}
	f.r = startMux(t, vars, mux)
	return f
}

// deliverAll sends the webhooks of batches [from, to) and waits until each is processed.
func (f *fixture) deliverAll(t *testing.T, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if st := f.r.deliver(fmt.Sprintf("msg_rec%03d", i), batchEvent(f.events[i], f.names[i], "")); st != 202 && st != 200 {
			t.Fatalf("delivery %d: status %d", i, st)
		}
	}
	f.r.idle()
}

func (f *fixture) reconcile(t *testing.T) reconcile.Summary {
	t.Helper()
	log := slog.New(slog.NewJSONHandler(io.MultiWriter(f.logs, testWriter(t)), &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := f.r.app.Reconcile(context.Background(), wire.ReconcileOptions{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testWriter shows the logs with -v only.
func testWriter(t *testing.T) io.Writer {
	if testing.Verbose() {
		return tlog{t}
	}
	return io.Discard
}

type tlog struct{ t *testing.T }

func (w tlog) Write(p []byte) (int, error) { w.t.Log(strings.TrimSpace(string(p))); return len(p), nil }

func succeeded(n int) int { return (n + 3) / 4 } // of batches 0..n-1, those with i%4 == 0

// The proof of the reconcile, on the local file store (the local queue
// processes the webhooks) and on the Firestore emulator (processed inline,
// as in the clouds without QUEUE).
func TestReconcileLandsTheMissingOnce(t *testing.T) {
	t.Run("file store", func(t *testing.T) { reconcileLandsTheMissingOnce(t) })
	t.Run("firestore", func(t *testing.T) {
		host := service(t, &services.firestore, testenv.StartFirestore)
		t.Setenv("FIRESTORE_EMULATOR_HOST", host)
		reconcileLandsTheMissingOnce(t, "IDEMPOTENCY_STORE", "firestore",
			"GOOGLE_CLOUD_PROJECT", fmt.Sprintf("reconcile-%d", time.Now().UnixNano()))
	})
}

func reconcileLandsTheMissingOnce(t *testing.T, extra ...string) {
	f := newFixture(t, 50, extra...)
	f.deliverAll(t, 0, 30)
	before := f.api.TotalDownloads()
	if before != succeeded(30) {
		t.Fatalf("webhooks landed %d outputs, want %d", before, succeeded(30))
	}

	first := f.reconcile(t)
	wantLanded := succeeded(50) - succeeded(30)
	got := []int{first.Seen, first.Known, first.Applied, first.Landed, first.Failed}
	if want := []int{50, 30, 20, wantLanded, 0}; !slices.Equal(got, want) {
		t.Fatalf("first run seen, known, applied, landed, failed = %v, want %v", got, want)
	}
	if d := f.api.TotalDownloads() - before; d != wantLanded {
		t.Fatalf("the reconcile downloaded %d outputs, want %d", d, wantLanded)
	}
	for i, name := range f.names {
		j, err := f.r.app.Processing.Ledger.GetJob(context.Background(), name)
		if err != nil || j == nil || !j.State.Terminal() {
			t.Fatalf("%s: %+v, %v: want terminal", name, j, err)
		}
		if f.events[i] == core.BatchSucceeded {
			if j.Landing != jobs.LandingLanded || f.api.Downloads(j.Source) != 1 {
				t.Fatalf("%s: landing %s, %d downloads; want landed once", name, j.Landing, f.api.Downloads(j.Source))
			}
		}
		if n := f.handlers.of(name); n != 1 {
			t.Fatalf("%s: handlers ran %d times, want 1", name, n)
		}
	}
	if n := strings.Count(f.logs.String(), `"source":"reconcile"`); n < 50 {
		t.Fatalf("%d reconcile log lines, want one per job and a summary", n)
	}

	second := f.reconcile(t)
	if second.Applied != 0 || second.Known != 50 || second.Failed != 0 {
		t.Fatalf("second run: %+v, want nothing applied and 50 known", second)
	}

	// A webhook for a reconciled job arriving afterwards: a duplicate at
	// job level (no download, no second handler run).
	handlersBefore := f.handlers.snapshot()
	downloadsBefore := f.api.TotalDownloads()
	f.deliverAll(t, 30, 50)
	if d := f.api.TotalDownloads(); d != downloadsBefore {
		t.Fatalf("late webhooks downloaded %d more", d-downloadsBefore)
	}
	if after := f.handlers.snapshot(); !mapsEqual(after, handlersBefore) {
		t.Fatalf("late webhooks ran handlers again: %v, was %v", after, handlersBefore)
	}
	for _, name := range f.names[30:] {
		j, _ := f.r.app.Processing.Ledger.GetJob(context.Background(), name)
		if !slices.ContainsFunc(j.Deliveries, func(d string) bool { return strings.HasPrefix(d, "msg_rec") }) {
			t.Fatalf("%s: the late webhook was not recorded: %v", name, j.Deliveries)
		}
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// A webhook that arrives while the same job is being reconciled: one
// landing, and the handlers run once (a reconcile that lost the landing to
// the webhook leaves them to its next run or to the webhook).
func TestReconcileRacesAWebhook(t *testing.T) {
	for round := range 5 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			f := newFixture(t, 4)
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				f.deliverAll(t, 0, 4)
			}()
			f.reconcile(t)
			wg.Wait()
			f.r.idle()
			f.reconcile(t) // what the first run had to leave to the next
			f.r.idle()
			for i, name := range f.names {
				if f.events[i] == core.BatchSucceeded {
					j := f.r.job(name, landed)
					if n := f.api.Downloads(j.Source); n != 1 {
						t.Fatalf("%s: %d downloads, want 1", name, n)
					}
				}
				if n := f.handlers.of(name); n != 1 {
					t.Fatalf("%s: handlers ran %d times, want 1", name, n)
				}
			}
		})
	}
}

// The stand-in's list is paged; every page is read.
func TestReconcileReadsEveryPage(t *testing.T) {
	f := newFixture(t, 2*100+7) // adapters/gemini lists 100 batches a page
	s, err := f.r.app.Reconcile(context.Background(), wire.ReconcileOptions{DryRun: true, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if s.Seen != 207 || s.Applied != 207 || f.api.ListCalls() != 3 || f.api.TotalDownloads() != 0 {
		t.Fatalf("dry run: %+v, %d list calls, %d downloads; want 207 seen and would-apply, 3 pages, nothing downloaded", s, f.api.ListCalls(), f.api.TotalDownloads())
	}
}

// The scheduled run reports the project's webhooks at ERROR: disabled after
// failed deliveries, a secret expiring within 24 h with no newer one, a URI
// that is not this receiver.
func TestReconcileReportsWebhookHealth(t *testing.T) {
	var posts syncBuf
	var npost atomic.Int32
	slack := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		posts.Write(b)
		npost.Add(1)
	}))
	defer slack.Close()
	f := newFixture(t, 0, "RECEIVER_URL", "https://receiver.example/GeminiWebhook", "SLACK_WEBHOOK_URL", slack.URL)
	now := time.Now()
	f.api.AddWebhook(geminitest.Webhook{ID: "ok", URI: "https://receiver.example/GeminiWebhook", State: "enabled", Expires: []time.Time{{}}})
	f.api.AddWebhook(geminitest.Webhook{ID: "rotated", URI: "https://receiver.example/GeminiWebhook/", State: "enabled", Expires: []time.Time{now.Add(2 * time.Hour), now.Add(30 * 24 * time.Hour)}})
	f.api.AddWebhook(geminitest.Webhook{ID: "failing", URI: "https://receiver.example/GeminiWebhook", State: "disabled_due_to_failed_deliveries"})
	f.api.AddWebhook(geminitest.Webhook{ID: "expiring", URI: "https://receiver.example/GeminiWebhook", State: "enabled", Expires: []time.Time{now.Add(3 * time.Hour)}})
	f.api.AddWebhook(geminitest.Webhook{ID: "elsewhere", URI: "https://old.example/hook", State: "enabled"})
	s := f.reconcile(t)
	var got []string
	for _, p := range s.Problems {
		got = append(got, p.Webhook+":"+p.Kind)
	}
	want := []string{"failing:" + reconcile.ProblemDisabled, "expiring:" + reconcile.ProblemSecretExpires, "elsewhere:" + reconcile.ProblemOtherURI}
	if !slices.Equal(got, want) {
		t.Fatalf("problems %v, want %v", got, want)
	}
	logs := f.logs.String()
	for _, w := range []string{"failing", "expiring", "elsewhere"} {
		if !strings.Contains(logs, `"level":"ERROR","msg":"webhook health","source":"reconcile","webhook":"`+w+`"`) {
			t.Fatalf("no ERROR line for webhook %s in:\n%s", w, logs)
		}
		if !strings.Contains(posts.String(), "`"+w+"`") {
			t.Fatalf("the Slack post does not name webhook %s: %s", w, posts.String())
		}
	}
	if n := npost.Load(); n != 1 {
		t.Fatalf("%d Slack posts, want one for the run", n)
	}
}
