// Package webhooktest is the test kit for the handlers of a Gemini webhook
// receiver: what a user's own tests need to send Gemini's deliveries
// through the whole receiver in-process and see what landed and what ran.
//
//	func TestSave(t *testing.T) {
//		k := webhooktest.New(t, myhandlers.Mux())
//		ev := webhooktest.BatchSucceeded("")
//		if res := k.Deliver(ev); res.Status != 200 || res.Err != nil {
//			t.Fatalf("%d %s: %v", res.Status, res.Outcome, res.Err)
//		}
//		if l, err := k.Landed(ev.JobID); err != nil || l.Lines == 0 {
//			t.Fatalf("landed %+v: %v", l, err)
//		}
//	}
//
// New builds the receiver the runtimes build (adapters/internal/wire: signature
// verification, the replay window, the idempotency claim, the built-in
// actions of core/jobs, then the mux's handlers) on a file store and a
// results folder in t.TempDir(), with a stand-in of the Gemini API on
// loopback (adapters/gemini/geminitest) that the landing downloads from:
// every batch it is asked about succeeded with a generated output, unless
// the test tells it otherwise through Kit.API. Deliveries are processed
// inline, so Deliver returns once the handlers have run.
//
// The builders (BatchSucceeded, BatchFailed, …, VideoGenerated, NewEvent)
// make the nine event types of Gemini's catalogue with realistic payloads;
// Static, SignStatic, NewJWTSigner and NewRequest sign deliveries for a
// test of an http.Handler of one's own.
package webhooktest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/gemini/geminitest"
	"github.com/geminiwebhooks/receiver/adapters/internal/env"
	"github.com/geminiwebhooks/receiver/adapters/internal/wire"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

// apiKey is the key the kit's stand-in demands and its receiver sends.
const apiKey = "webhooktest-api-key"

// Kit is a receiver built around a mux, with its stand-in Gemini API, its
// signing secret and (with Dynamic) its token signer.
type Kit struct {
	// API is the Gemini API stand-in the built-in actions ask: AddBatch,
	// AddFile or AddInteraction set what it reports; Downloads and
	// BatchGets count what was asked.
	API *geminitest.Server
	// Secret is the whsec_ secret the receiver verifies; Deliver signs with it.
	Secret string
	// JWT signs dynamic deliveries (DeliverWith(k.JWT, ev)); nil without Dynamic.
	JWT *JWTSigner
	// Results is the folder finished jobs land in (RESULTS_SINK).
	Results string

	app    *wire.App
	cancel context.CancelFunc
	log    *syncBuffer

	mu   sync.Mutex
	runs []Run
}

// Run is one run of the mux's handlers: after the built-in actions let the
// event through.
type Run struct {
	DeliveryID string // the delivery's idempotency key (its webhook-id)
	Type       string // the event type, batch.completed folded into batch.succeeded
	JobID      string
	Err        error // what the handlers returned (a panic is an error too)
}

// Result is the receiver's answer to one delivery and the handler runs it
// caused.
type Result struct {
	Status  int    // 200, 401, 409, 500, …
	Outcome string // processed, duplicate, rejected, in_progress, conflict, failed, dead_letter
	Reason  string // why, when rejected or failed
	Ran     bool   // the handlers ran for this delivery
	Err     error  // what they returned
}

// Option changes what New and Start build.
type Option func(*options)

type options struct {
	env      map[string]string
	audience string
}

// Env sets a variable of the receiver's configuration (the README's
// Configuration table), e.g. Env("IDEMPOTENCY_STORE", "memory") or
// Env("FORWARD_URL", srv.URL). The kit sets WEBHOOK_SIGNING_SECRET,
// IDEMPOTENCY_STORE (file), STATE_PATH, RESULTS_SINK, GEMINI_API_KEY and
// GOOGLE_GEMINI_BASE_URL; Env overrides them. The process environment is
// never read.
func Env(name, value string) Option {
	return func(o *options) { o.env[name] = value }
}

// Dynamic turns the dynamic scheme on as well: the kit makes a JWTSigner
// for audience and sets WEBHOOK_AUDIENCE, WEBHOOK_JWKS_URL and
// WEBHOOK_ISSUER to it.
func Dynamic(audience string) Option {
	return func(o *options) { o.audience = audience }
}

// New builds a kit around mux (nil: no handlers) for t: its files live in
// t.TempDir(), it is closed when t ends, and the receiver's log lines are
// printed when t fails.
func New(t testing.TB, mux *core.Mux, opts ...Option) *Kit {
	t.Helper()
	dir := t.TempDir()
	k, err := start(dir, mux, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := k.Close(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("receiver log:\n%s", k.Log())
		}
	})
	return k
}

// Start builds a kit outside a test (an Example, a TestMain): its files
// live in a new temporary folder that Close removes.
func Start(mux *core.Mux, opts ...Option) (*Kit, error) {
	dir, err := os.MkdirTemp("", "webhooktest-")
	if err != nil {
		return nil, err
	}
	k, err := start(dir, mux, opts)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	prev := k.cancel
	k.cancel = func() { prev(); os.RemoveAll(dir) }
	return k, nil
}

func start(dir string, mux *core.Mux, opts []Option) (_ *Kit, err error) {
	o := options{env: map[string]string{}}
	for _, opt := range opts {
		opt(&o)
	}
	ctx, cancel := context.WithCancel(context.Background())
	k := &Kit{API: geminitest.New(apiKey), Secret: NewSecret(), Results: filepath.Join(dir, "results"), log: &syncBuffer{}}
	k.cancel = func() { cancel(); k.API.Close() }
	defer func() {
		if err != nil {
			k.cancel()
		}
	}()
	k.API.SetAuto(32 << 10)
	vars := map[string]string{
		"WEBHOOK_SIGNING_SECRET": k.Secret,
		"IDEMPOTENCY_STORE":      "file",
		"STATE_PATH":             filepath.Join(dir, "state.db"),
		"RESULTS_SINK":           k.Results,
		"GEMINI_API_KEY":         apiKey,
		"GOOGLE_GEMINI_BASE_URL": k.API.URL,
	}
	if o.audience != "" {
		if k.JWT, err = NewJWTSigner(ctx, o.audience); err != nil {
			return nil, err
		}
		vars["WEBHOOK_AUDIENCE"], vars["WEBHOOK_JWKS_URL"], vars["WEBHOOK_ISSUER"] = k.JWT.Audience, k.JWT.JWKSURL, k.JWT.Issuer
	}
	for name, v := range o.env {
		vars[name] = v
	}
	cfg, err := env.Load(func(name string) string { return vars[name] }, env.Local)
	if err != nil {
		return nil, fmt.Errorf("webhooktest: %w", err)
	}
	if mux == nil {
		mux = core.NewMux()
	}
	logger := slog.New(slog.NewJSONHandler(k.log, nil))
	k.app, err = wire.Build(ctx, cfg, mux.With(k.record), wire.Options{Logger: logger, Cloud: wire.Cloud{Name: "webhooktest"}})
	if err != nil {
		return nil, fmt.Errorf("webhooktest: %w", err)
	}
	if k.app.Receiver == nil {
		k.app.Close()
		return nil, fmt.Errorf("webhooktest: %w", wire.ErrNoScheme)
	}
	return k, nil
}

// record is the middleware between the built-in actions and the mux's own:
// it sees every run of the handlers and what they returned.
func (k *Kit) record(next core.HandlerFunc) core.HandlerFunc {
	return func(ctx context.Context, ev *core.Event) error {
		err := next(ctx, ev)
		k.mu.Lock()
		k.runs = append(k.runs, Run{DeliveryID: ev.Delivery.ID, Type: ev.Type, JobID: ev.JobID(), Err: err})
		k.mu.Unlock()
		return err
	}
}

// Close releases the receiver, the stand-in and the JWKS server.
func (k *Kit) Close() error {
	err := k.app.Close()
	k.cancel()
	return err
}

// Handler is the receiver, for requests of the test's own making
// (NewRequest).
func (k *Kit) Handler() http.Handler { return k.app.Receiver }

// Deliver sends ev as Gemini does, signed with the kit's secret now, and
// returns the receiver's answer once the handlers have run.
func (k *Kit) Deliver(ev Event) Result { return k.DeliverWith(Static(k.Secret), ev) }

// DeliverWith sends ev signed by s: k.JWT for a dynamic delivery, Static
// with another secret for one the receiver must refuse. Before the first
// delivery of a job, the stand-in is told the end the event reports (a
// failed batch is failed in the API too), unless the test told it first.
func (k *Kit) DeliverWith(s Signer, ev Event) Result {
	k.API.Announce(ev.Type, ev.JobID)
	req, err := newRequest("http://receiver.test/", s, ev, time.Now())
	if err != nil {
		return Result{Err: err}
	}
	k.mu.Lock()
	before := len(k.runs)
	k.mu.Unlock()
	w := httptest.NewRecorder()
	k.app.Receiver.ServeHTTP(w, req)
	res := Result{Status: w.Code}
	var a struct{ Outcome, Reason string }
	if json.Unmarshal(w.Body.Bytes(), &a) == nil {
		res.Outcome, res.Reason = a.Outcome, a.Reason
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, r := range k.runs[before:] {
		res.Ran, res.Err = true, r.Err
	}
	return res
}

// Runs returns every run of the handlers so far, in order.
func (k *Kit) Runs() []Run {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]Run(nil), k.runs...)
}

// Job returns the job ledger's record of a job (nil when it never saw it).
func (k *Kit) Job(jobID string) (*jobs.Job, error) {
	return k.app.Processing.Ledger.GetJob(context.Background(), jobID)
}

// LandedOutput is a job's output as it landed in the results folder.
type LandedOutput struct {
	jobs.Manifest        // bytes, SHA-256, line counts, source
	Path          string // the landed file
}

// ErrNotLanded: the job has no landed output; the error names the ledger's reason.
var ErrNotLanded = jobs.ErrNotLanded

// Landed returns what landed for a job (a finished batch's results, a
// video), or an error wrapping ErrNotLanded with the ledger's reason.
func (k *Kit) Landed(jobID string) (LandedOutput, error) {
	j, err := k.Job(jobID)
	if err != nil {
		return LandedOutput{}, err
	}
	if j == nil {
		return LandedOutput{}, fmt.Errorf("%w: the ledger never saw %s", ErrNotLanded, jobID)
	}
	if j.Landing != jobs.LandingLanded || j.Output == nil {
		return LandedOutput{}, fmt.Errorf("%w: %s is %s, landing %q %s", ErrNotLanded, jobID, j.State, j.Landing, j.LandingError)
	}
	path, ok := strings.CutPrefix(j.Output.URI, "file://")
	if !ok {
		return LandedOutput{}, fmt.Errorf("webhooktest: %s landed at %s, outside the results folder", jobID, j.Output.URI)
	}
	return LandedOutput{Manifest: *j.Output, Path: filepath.FromSlash(path)}, nil
}

// Log is the receiver's log so far: one JSON line per delivery, and
// whatever the built-in actions logged.
func (k *Kit) Log() string { return k.log.String() }

// syncBuffer is the log's writer: deliveries may run concurrently.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
