package jobs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

// The rules of the job processor, with in-memory parts. The real API
// stand-in, sinks and ledgers are exercised in adapters/internal/wire.

type memBatches struct {
	mu    sync.Mutex
	st    map[string]jobs.BatchStatus
	calls int
}

func (m *memBatches) GetBatch(_ context.Context, name string) (jobs.BatchStatus, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	st, ok := m.st[name]
	if !ok {
		return jobs.BatchStatus{}, core.ErrNotFound
	}
	st.Name = name
	return st, nil
}

type memFiles struct {
	mu      sync.Mutex
	data    map[string]string
	fetches int
}

func (m *memFiles) Fetch(_ context.Context, src string) (*jobs.Download, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fetches++
	d, ok := m.data[src]
	if !ok {
		return nil, core.ErrNotFound
	}
	return &jobs.Download{Body: io.NopCloser(strings.NewReader(d)), Size: int64(len(d)), ContentType: "application/jsonl"}, nil
}

type memSink struct {
	mu   sync.Mutex
	objs map[string][]byte
	puts int
}

func (m *memSink) Put(_ context.Context, key string, r io.Reader, _ string) (string, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objs[key] = b
	m.puts++
	return m.URI(key), nil
}

func (m *memSink) Open(_ context.Context, key string) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.objs[key]
	if !ok {
		return nil, core.ErrNotFound
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (m *memSink) URI(key string) string { return "mem://" + key }

type memNotifier struct {
	mu   sync.Mutex
	sent []string // delivery id + event type
	fail int
}

func (n *memNotifier) Name() string { return "mem" }

func (n *memNotifier) Notify(_ context.Context, note jobs.Notification) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.fail > 0 {
		n.fail--
		return errors.New("endpoint down")
	}
	n.sent = append(n.sent, note.DeliveryID+" "+note.Event.Type)
	return nil
}

type rig struct {
	jobs    *jobs.Actions
	ledger  *jobs.MemoryLedger
	batches *memBatches
	files   *memFiles
	sink    *memSink
	note    *memNotifier
}

func newRig(t *testing.T) *rig {
	r := &rig{
		ledger:  jobs.NewMemoryLedger(0),
		batches: &memBatches{st: map[string]jobs.BatchStatus{}},
		files:   &memFiles{data: map[string]string{}},
		sink:    &memSink{objs: map[string][]byte{}},
		note:    &memNotifier{},
	}
	var err error
	r.jobs, err = jobs.New(jobs.Config{
		Ledger: r.ledger, Batches: r.batches, Fetcher: r.files, Sink: r.sink, Notifiers: []jobs.Notifier{r.note},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), NotifyAttempts: 2, NotifyTimeout: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// delivery is a parsed event of type typ for job, delivered as id.
func delivery(id, typ, job, output string) *core.Event {
	e, err := core.ParseEvent([]byte(fmt.Sprintf(`{"type":%q,"version":"v1","data":{"id":"batches/%s"}}`, typ, id)))
	if err != nil {
		panic(err)
	}
	e.Delivery = core.Delivery{ID: id, Scheme: core.SchemeStatic}
	e.Data.ID, e.Data.OutputFileURI = job, output
	return e
}

const output = "{\"response\":{}}\n{\"error\":{}}\n{\"response\":{}}\n"

func TestJobsLandOncePerBatch(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	r.batches.st["batches/1"] = jobs.BatchStatus{APIState: "JOB_STATE_SUCCEEDED", State: jobs.JobSucceeded, OutputFile: "files/o1"}
	r.files.data["files/o1"] = output

	for _, id := range []string{"msg_static", "msg_dynamic", "msg_static"} {
		if err := r.jobs.Process(ctx, delivery(id, core.BatchSucceeded, "batches/1", "files/from-event")); err != nil {
			t.Fatal(err)
		}
	}
	if r.batches.calls != 1 || r.files.fetches != 1 || r.sink.puts != 2 {
		t.Fatalf("API calls %d, fetches %d, puts %d; want 1, 1, 2 (output and manifest once)", r.batches.calls, r.files.fetches, r.sink.puts)
	}
	if got := string(r.sink.objs["batches/1/results.jsonl"]); got != output {
		t.Fatalf("landed %q", got)
	}
	j, _ := r.ledger.GetJob(ctx, "batches/1")
	if j.State != jobs.JobSucceeded || j.Landing != jobs.LandingLanded || j.Source != "files/o1" || j.Output.Lines != 3 ||
		j.Output.SucceededLines != 2 || j.Output.FailedLines != 1 || j.ManifestURI != "mem://batches/1/manifest.json" ||
		len(j.Deliveries) != 2 {
		t.Fatalf("ledger: %+v %+v", j, j.Output)
	}
	if len(r.note.sent) != 1 || r.note.sent[0] != "msg_static batch.succeeded" {
		t.Fatalf("notifications %v, want one carrying the first delivery's id", r.note.sent)
	}
}

func TestJobsAPIDisagrees(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	r.batches.st["batches/f"] = jobs.BatchStatus{APIState: "JOB_STATE_FAILED", State: jobs.JobFailed}
	r.batches.st["batches/r"] = jobs.BatchStatus{APIState: "JOB_STATE_RUNNING", State: jobs.JobRunning}
	if err := r.jobs.Process(ctx, delivery("m1", core.BatchSucceeded, "batches/f", "files/x")); err != nil {
		t.Fatal(err)
	}
	j, _ := r.ledger.GetJob(ctx, "batches/f")
	if j.State != jobs.JobFailed || j.ErrorMessage != "the Gemini API reports JOB_STATE_FAILED" || j.Landing != jobs.LandingNone || r.files.fetches != 0 {
		t.Fatalf("failed per the API: %+v, %d fetches", j, r.files.fetches)
	}
	err := r.jobs.Process(ctx, delivery("m2", core.BatchSucceeded, "batches/r", "files/x"))
	var later *core.RetryLaterError
	if !errors.As(err, &later) || later.Free {
		t.Fatalf("running per the API: %v, want a counted RetryLaterError", err)
	}
	if err := r.jobs.Process(ctx, delivery("m3", core.BatchSucceeded, "batches/unknown", "files/x")); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("unknown batch: %v, want ErrNotFound (retried, then a dead letter)", err)
	}
}

func TestJobsWithoutAPIKeyRecordsAndSkips(t *testing.T) {
	ctx := context.Background()
	l := jobs.NewMemoryLedger(0)
	p, _ := jobs.New(jobs.Config{Ledger: l, Sink: &memSink{objs: map[string][]byte{}}, NoBatchesReason: "GEMINI_API_KEY is not set", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := p.Process(ctx, delivery("m1", core.BatchSucceeded, "batches/n", "files/x")); err != nil {
		t.Fatal(err)
	}
	j, _ := l.GetJob(ctx, "batches/n")
	if j.State != jobs.JobSucceeded || j.APIState != "" || j.Landing != jobs.LandingSkipped || j.LandingError != "GEMINI_API_KEY is not set" {
		t.Fatalf("%+v", j)
	}
}

// A fetcher that knows it cannot fetch a source (a video's files/… without
// an API key) makes the landing skipped with its reason, not retried.
type keylessFetcher struct{ memFiles }

func (k *keylessFetcher) CanFetch(src string) error {
	if strings.HasPrefix(src, "files/") {
		return errors.New("GEMINI_API_KEY is not set")
	}
	return nil
}

func TestJobsSkipsWhatCannotBeFetched(t *testing.T) {
	ctx := context.Background()
	l := jobs.NewMemoryLedger(0)
	f := &keylessFetcher{}
	p, _ := jobs.New(jobs.Config{Ledger: l, Fetcher: f, Sink: &memSink{objs: map[string][]byte{}}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ev, err := core.ParseEvent([]byte(`{"type":"video.generated","version":"v1","data":{"file_id":"files/v1","video_uri":"files/v1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	ev.Delivery = core.Delivery{ID: "m1", Scheme: core.SchemeStatic}
	if err := p.Process(ctx, ev); err != nil {
		t.Fatalf("video without an API key: %v, want recorded and skipped", err)
	}
	j, _ := l.GetJob(ctx, "files/v1")
	if j.State != jobs.JobSucceeded || j.Landing != jobs.LandingSkipped || j.LandingError != "GEMINI_API_KEY is not set" || f.fetches != 0 {
		t.Fatalf("job %+v, fetches %d", j, f.fetches)
	}
}

// Another worker holds the landing: come back when its lease ends, without
// using up an attempt.
func TestJobsBusyLanding(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	r.batches.st["batches/b"] = jobs.BatchStatus{APIState: "JOB_STATE_SUCCEEDED", State: jobs.JobSucceeded, OutputFile: "files/o"}
	lease := time.Now().Add(time.Minute)
	r.ledger.UpdateJob(ctx, "batches/b", func(*jobs.Job) (*jobs.Job, error) {
		return &jobs.Job{ID: "batches/b", Kind: "batch", State: jobs.JobSucceeded, Source: "files/o", Landing: jobs.LandingActive, LandingOwner: "other", LandingLease: lease}, nil
	})
	err := r.jobs.Process(ctx, delivery("m1", core.BatchSucceeded, "batches/b", "files/o"))
	var later *core.RetryLaterError
	if !errors.As(err, &later) || !later.Free || later.At.After(lease) || later.At.Before(time.Now()) || r.files.fetches != 0 {
		t.Fatalf("busy: %v, %d fetches", err, r.files.fetches)
	}
}

// A crash after the manifest was written but before the ledger recorded
// it: the retry adopts the manifest instead of downloading again.
func TestJobsAdoptsLandedManifest(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	r.batches.st["batches/c"] = jobs.BatchStatus{APIState: "JOB_STATE_SUCCEEDED", State: jobs.JobSucceeded, OutputFile: "files/o"}
	r.sink.objs["batches/c/manifest.json"] = []byte(`{"job_id":"batches/c","source":"files/o","uri":"mem://batches/c/results.jsonl","bytes":42,"sha256":"ab","lines":1}`)
	if err := r.jobs.Process(ctx, delivery("m1", core.BatchSucceeded, "batches/c", "files/o")); err != nil {
		t.Fatal(err)
	}
	j, _ := r.ledger.GetJob(ctx, "batches/c")
	if r.files.fetches != 0 || j.Landing != jobs.LandingLanded || j.Output.Bytes != 42 {
		t.Fatalf("%d fetches, %+v", r.files.fetches, j)
	}
}

// A short download fails the landing, which is released with the reason
// and lands whole on the next attempt.
func TestJobsShortDownloadIsRetried(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	r.batches.st["batches/s"] = jobs.BatchStatus{APIState: "JOB_STATE_SUCCEEDED", State: jobs.JobSucceeded, OutputFile: "files/s"}
	short := &shortFetcher{memFiles: r.files, cut: 1}
	r.files.data["files/s"] = output
	p, _ := jobs.New(jobs.Config{Ledger: r.ledger, Batches: r.batches, Fetcher: short, Sink: r.sink, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	err := p.Process(ctx, delivery("m1", core.BatchSucceeded, "batches/s", "files/s"))
	if !errors.Is(err, jobs.ErrSizeMismatch) {
		t.Fatalf("short download: %v, want ErrSizeMismatch", err)
	}
	j, _ := r.ledger.GetJob(ctx, "batches/s")
	if j.Landing != jobs.LandingPending || !strings.Contains(j.LandingError, "size") || len(r.sink.objs) != 0 {
		t.Fatalf("after a short download: %+v, sink %v", j, r.sink.objs)
	}
	if err := p.Process(ctx, delivery("m1", core.BatchSucceeded, "batches/s", "files/s")); err != nil {
		t.Fatal(err)
	}
	if string(r.sink.objs["batches/s/results.jsonl"]) != output {
		t.Fatal("not landed whole on retry")
	}
}

type shortFetcher struct {
	*memFiles
	cut int
}

// Fetch cuts the first cut downloads in half while promising the full size.
func (s *shortFetcher) Fetch(ctx context.Context, src string) (*jobs.Download, error) {
	d, err := s.memFiles.Fetch(ctx, src)
	if err != nil || s.cut == 0 {
		return d, err
	}
	s.cut--
	b, _ := io.ReadAll(d.Body)
	d.Body = io.NopCloser(bytes.NewReader(b[:len(b)/2]))
	return d, nil
}

// A notification that fails is retried, then fails the attempt; the next
// attempt sends it once with the same id, and lands nothing again.
func TestJobsNotificationRetried(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	r.note.fail = 2 // both tries of the first attempt
	e := delivery("msg_1", core.InteractionFailed, "interactions/i", "")
	if err := r.jobs.Process(ctx, e); err == nil {
		t.Fatal("a failed notification did not fail the attempt")
	}
	if err := r.jobs.Process(ctx, delivery("msg_2", core.InteractionFailed, "interactions/i", "")); err != nil {
		t.Fatal(err)
	}
	if err := r.jobs.Process(ctx, e); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(r.note.sent) != "[msg_1 interaction.failed]" {
		t.Fatalf("sent %v, want once with the first delivery's id", r.note.sent)
	}
}

// blockingFiles serves any file, holding each download until release is
// closed, and records how many were downloading at once.
type blockingFiles struct {
	mu        sync.Mutex
	now, most int
	started   chan struct{}
	release   chan struct{}
	fetches   int
}

func (f *blockingFiles) Fetch(ctx context.Context, name string) (*jobs.Download, error) {
	f.mu.Lock()
	f.now++
	f.fetches++
	f.most = max(f.most, f.now)
	f.mu.Unlock()
	f.started <- struct{}{}
	<-f.release
	f.mu.Lock()
	f.now--
	f.mu.Unlock()
	return &jobs.Download{Body: io.NopCloser(strings.NewReader(output)), Size: int64(len(output))}, nil
}

// At most MaxLandings download at once, however many events are processed
// at once; every job still lands.
func TestJobsLandingsBounded(t *testing.T) {
	const events, bound = 12, 3
	batches := &memBatches{st: map[string]jobs.BatchStatus{}}
	files := &blockingFiles{started: make(chan struct{}, events), release: make(chan struct{})}
	sink := &memSink{objs: map[string][]byte{}}
	a, err := jobs.New(jobs.Config{Ledger: jobs.NewMemoryLedger(0), Batches: batches, Fetcher: files, Sink: sink, MaxLandings: bound,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for i := range events {
		batches.st[fmt.Sprint("batches/", i)] = jobs.BatchStatus{APIState: "JOB_STATE_SUCCEEDED", State: jobs.JobSucceeded, OutputFile: fmt.Sprint("files/o", i)}
	}
	var wg sync.WaitGroup
	errs := make(chan error, events)
	for i := range events {
		wg.Go(func() {
			errs <- a.Process(context.Background(), delivery(fmt.Sprint("m", i), core.BatchSucceeded, fmt.Sprint("batches/", i), ""))
		})
	}
	for range bound {
		<-files.started
	}
	select {
	case <-files.started:
		t.Fatalf("a download beyond the bound of %d started", bound)
	case <-time.After(50 * time.Millisecond):
	}
	close(files.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if files.most != bound || files.fetches != events || sink.puts != 2*events {
		t.Fatalf("at most %d downloading at once (want %d), %d fetches, %d puts (want %d, %d)", files.most, bound, files.fetches, sink.puts, events, 2*events)
	}
}
