package wire_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/geminiwebhooks/receiver/adapters/gemini/geminitest"
	"github.com/geminiwebhooks/receiver/adapters/internal/env"
	"github.com/geminiwebhooks/receiver/adapters/internal/wire"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
	"github.com/geminiwebhooks/receiver/scripts/simulator/gemini"
)

// Issue 21, part 1: Gemini documents no dynamic-token claim that names a
// delivery, Google's push tokens are reused for many requests, and RS256 is
// deterministic. A token that binds nothing made every later delivery under
// it a 409 (the key was the token's hash), for the token's life: events
// lost. These tests send what such a token would carry, through the
// receiver wire builds, against the Gemini API stand-in.

const audience = "https://hooks.example.test/gemini"

// handled records each run of the user's handlers: job id, event type and
// whether the event was confirmed.
type handled struct {
	mu   sync.Mutex
	runs []string
}

func (h *handled) mux() *core.Mux {
	return core.NewMux().Default(func(_ context.Context, ev *core.Event) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.runs = append(h.runs, fmt.Sprintf("%s %s confirmed=%v", ev.JobID(), ev.Type, ev.Confirmed))
		return nil
	})
}

func (h *handled) count(run string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range h.runs {
		if r == run {
			n++
		}
	}
	return n
}

func (h *handled) total() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.runs)
}

// dynamicRig is the receiver with both schemes on, trusting signer's JWKS.
type dynamicRig struct {
	*receiver
	signer *gemini.JWTSigner
	h      *handled
}

func startDynamic(t *testing.T, api *geminitest.Server, vars map[string]string) *dynamicRig {
	t.Helper()
	return startDynamicMux(t, api, vars, nil)
}

// startDynamicMux is startDynamic with the user's mux (nil: one that
// records every event's run in the rig's handled).
func startDynamicMux(t *testing.T, api *geminitest.Server, vars map[string]string, mux *core.Mux) *dynamicRig {
	t.Helper()
	signer, err := gemini.NewJWTSigner(audience, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	jwksURL, err := signer.ServeJWKS(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	full := map[string]string{
		"WEBHOOK_SIGNING_SECRET": secret,
		"WEBHOOK_AUDIENCE":       audience,
		"WEBHOOK_JWKS_URL":       jwksURL,
		"STATE_PATH":             filepath.Join(dir, "state.db"),
		"RESULTS_SINK":           filepath.Join(dir, "results"),
		"GEMINI_API_KEY":         apiKey,
		"GOOGLE_GEMINI_BASE_URL": api.URL,
		"RETRY_BACKOFF":          "50ms",
	}
	for k, v := range vars {
		if v == "" {
			delete(full, k)
			continue
		}
		full[k] = v
	}
	h := &handled{}
	if mux == nil {
		mux = h.mux()
	}
	return &dynamicRig{receiver: startMux(t, full, mux), signer: signer, h: h}
}

// bareToken is a token that binds nothing: aud, iat and exp only, the
// claims the guide's samples check.
func (d *dynamicRig) bareToken(iat time.Time) string {
	d.t.Helper()
	tok, err := d.signer.Token(jwt.MapClaims{"aud": audience, "iat": iat.Unix(), "exp": iat.Add(time.Hour).Unix()})
	if err != nil {
		d.t.Fatal(err)
	}
	return tok
}

// post sends body under token (and webhook-id when not empty); it returns
// the status and the outcome. The first request may meet the key set
// still loading (401 "JWKS not loaded yet"): it is sent again then.
func (d *dynamicRig) post(token, webhookID string, body []byte) (int, string) {
	d.t.Helper()
	for tries := 0; ; tries++ {
		req, _ := http.NewRequest(http.MethodPost, d.url, bytes.NewReader(body))
		req.Header.Set("webhook-signature", token)
		req.Header.Set("Content-Type", "application/json")
		if webhookID != "" {
			req.Header.Set("webhook-id", webhookID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			d.t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var out struct{ Outcome, Reason string }
		_ = json.Unmarshal(b, &out)
		if resp.StatusCode == http.StatusUnauthorized && strings.Contains(out.Reason, "not loaded") && tries < 50 {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		return resp.StatusCode, out.Outcome
	}
}

func envelope(typ string, data map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "version": "v1", "timestamp": time.Now().UTC().Format(time.RFC3339), "data": data})
	return b
}

// A token reused for three deliveries, each a different event about a job
// the API confirms: each is processed once, and a retry of each is a
// duplicate. Before: the first 202, the two others 409 on every retry.
func TestReusedTokenCarriesThreeEvents(t *testing.T) {
	api := geminitest.New(apiKey)
	defer api.Close()
	out := geminitest.File{Name: "files/out-reused", Size: 50_000, Seed: 21}
	api.AddFile(out)
	api.AddBatch("batches/reused", geminitest.Batch{State: "BATCH_STATE_SUCCEEDED", OutputFile: out.Name})
	api.AddInteraction("v1_ChdReused", geminitest.Interaction{Status: "completed"})
	api.AddFile(geminitest.File{Name: "files/vidreused", MIMEType: "video/mp4", Size: 4096, Seed: 22})
	r := startDynamic(t, api, nil)

	tok := r.bareToken(time.Now())
	events := []struct {
		body []byte
		run  string
	}{
		{envelope("batch.succeeded", map[string]any{"id": "batches/reused", "output_file_uri": out.Name}), "batches/reused batch.succeeded confirmed=true"},
		{envelope("interaction.completed", map[string]any{"id": "v1_ChdReused"}), "interactions/v1_ChdReused interaction.completed confirmed=true"},
		{envelope("video.generated", map[string]any{"file_id": "vidreused", "video_uri": "https://example.test/v.mp4"}), "files/vidreused video.generated confirmed=true"},
	}
	for i, ev := range events {
		if st, o := r.post(tok, "", ev.body); st != http.StatusAccepted || o != string(core.OutcomeQueued) {
			t.Fatalf("event %d: %d %s, want 202 queued", i+1, st, o)
		}
	}
	r.idle()
	for i, ev := range events {
		if st, o := r.post(tok, "", ev.body); st != http.StatusOK || o != string(core.OutcomeDuplicate) {
			t.Fatalf("retry of event %d: %d %s, want 200 duplicate", i+1, st, o)
		}
	}
	r.idle()
	for _, ev := range events {
		if n := r.h.count(ev.run); n != 1 {
			t.Fatalf("%q ran %d times, want once (runs %v)", ev.run, n, r.h.runs)
		}
	}
	checkLanded(t, r.job("batches/reused", landed), r.sink, out)
	if j := r.job("interactions/v1_ChdReused", func(j *jobs.Job) bool { return j.State.Terminal() }); j.State != jobs.JobSucceeded || j.APIState != "completed" {
		t.Fatalf("interaction %+v", j)
	}
	r.job("files/vidreused", landed)
}

// Two tokens with the same claims signed in the same second are the same
// bytes (RS256 is deterministic); with two events they are two deliveries.
// Before: the second was 409 (jwt:sha256:<token>) on every retry.
func TestIdenticalTokensTwoEvents(t *testing.T) {
	api := geminitest.New(apiKey)
	defer api.Close()
	a := geminitest.File{Name: "files/out-same-a", Size: 20_000, Seed: 23}
	b := geminitest.File{Name: "files/out-same-b", Size: 30_000, Seed: 24}
	api.AddFile(a)
	api.AddFile(b)
	api.AddBatch("batches/same-a", geminitest.Batch{State: "BATCH_STATE_SUCCEEDED", OutputFile: a.Name})
	api.AddBatch("batches/same-b", geminitest.Batch{State: "BATCH_STATE_SUCCEEDED", OutputFile: b.Name})
	r := startDynamic(t, api, nil)

	now := time.Now()
	t1, t2 := r.bareToken(now), r.bareToken(now)
	if t1 != t2 {
		t.Fatal("two RS256 tokens with the same claims differ: the case is not made")
	}
	for _, tc := range []struct {
		tok, job string
		f        geminitest.File
	}{{t1, "batches/same-a", a}, {t2, "batches/same-b", b}} {
		if st, o := r.post(tc.tok, "", envelope("batch.succeeded", map[string]any{"id": tc.job, "output_file_uri": tc.f.Name})); st != http.StatusAccepted {
			t.Fatalf("%s: %d %s, want 202", tc.job, st, o)
		}
	}
	r.idle()
	checkLanded(t, r.job("batches/same-a", landed), r.sink, a)
	checkLanded(t, r.job("batches/same-b", landed), r.sink, b)
	for _, run := range []string{"batches/same-a batch.succeeded confirmed=true", "batches/same-b batch.succeeded confirmed=true"} {
		if r.h.count(run) != 1 {
			t.Fatalf("%q: runs %v", run, r.h.runs)
		}
	}
}

// A token captured from a genuine delivery, replayed with forged bodies
// naming running jobs: nothing lands, no handler runs, no job changes state
// (the forged deliveries end as dead letters once their attempts run out),
// and the same webhook-id with another body is still a conflict.
func TestForgedBodyUnderCapturedToken(t *testing.T) {
	api := geminitest.New(apiKey)
	defer api.Close()
	api.AddFile(geminitest.File{Name: "files/out-run", Size: 10_000, Seed: 25})
	api.AddBatch("batches/run", geminitest.Batch{State: "BATCH_STATE_RUNNING", OutputFile: "files/out-run"})
	api.AddInteraction("v1_ChdWaiting", geminitest.Interaction{Status: "requires_action"})
	r := startDynamic(t, api, map[string]string{"MAX_ATTEMPTS": "1"})

	// The genuine delivery: the interaction waits for the user.
	tok := r.bareToken(time.Now())
	if st, _ := r.post(tok, "msg_genuine", envelope("interaction.requires_action", map[string]any{"id": "v1_ChdWaiting"})); st != http.StatusAccepted {
		t.Fatalf("genuine delivery: %d", st)
	}
	r.idle()
	const genuine = "interactions/v1_ChdWaiting interaction.requires_action confirmed=true"
	if r.h.count(genuine) != 1 {
		t.Fatalf("genuine requires_action: runs %v", r.h.runs)
	}
	before := r.job("interactions/v1_ChdWaiting", func(*jobs.Job) bool { return true })

	forged := [][]byte{
		envelope("interaction.failed", map[string]any{"id": "v1_ChdWaiting", "error_code": 3, "error_message": "forged"}),
		envelope("interaction.completed", map[string]any{"id": "interactions/v1_ChdWaiting"}),
		envelope("batch.succeeded", map[string]any{"id": "batches/run", "output_file_uri": "gs://attacker/x.jsonl"}),
		envelope("batch.failed", map[string]any{"id": "batch_run_not_known"}),
	}
	for i, body := range forged {
		if st, o := r.post(tok, "", body); st != http.StatusAccepted {
			t.Fatalf("forged %d: %d %s", i+1, st, o)
		}
	}
	if st, o := r.post(tok, "msg_genuine", forged[0]); st != http.StatusConflict || o != string(core.OutcomeConflict) {
		t.Fatalf("genuine webhook-id with a forged body: %d %s, want 409 conflict", st, o)
	}
	r.idle()

	if r.h.total() != 1 {
		t.Fatalf("handlers ran for forged bodies: %v", r.h.runs)
	}
	after, _ := r.app.Processing.Ledger.GetJob(context.Background(), "interactions/v1_ChdWaiting")
	if after.State != jobs.JobRequiresAction || !after.FinishedAt.IsZero() || after.ErrorMessage != "" || after.UpdatedAt != before.UpdatedAt {
		t.Fatalf("interaction changed: %+v, was %+v", after, before)
	}
	for _, id := range []string{"batches/run", "batches/batch_run_not_known"} {
		if j, _ := r.app.Processing.Ledger.GetJob(context.Background(), id); j != nil {
			t.Fatalf("forged body wrote %+v", j)
		}
	}
	if api.TotalDownloads() != 0 {
		t.Fatalf("%d downloads: a forged body landed something", api.TotalDownloads())
	}
	// The forged bodies under the API's running states, and the one naming a
	// job the API does not know (as a genuine event read with another
	// project's key would), are kept, not acted on.
	dls, err := deadLetters(r.receiver)
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 4 {
		t.Fatalf("dead letters %+v, want the 4 forged bodies the API did not refute", dls)
	}
}

// Without GEMINI_API_KEY nothing can confirm a hint: it is answered 2xx
// (Gemini does not retry it for a day, nor disable the webhook), kept as a
// dead letter and not acted on; the start says so once, naming the
// variable. The same inline (no queue): 200 dead_letter. Once the key is
// set, the replayed dead letter is confirmed and acted on.
func TestHintWithoutAPIKeyIsKept(t *testing.T) {
	for _, queued := range []bool{true, false} {
		t.Run(fmt.Sprintf("queued=%v", queued), func(t *testing.T) {
			signer, err := gemini.NewJWTSigner(audience, "")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			jwksURL, err := signer.ServeJWKS(ctx, "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			vars := map[string]string{
				"WEBHOOK_AUDIENCE": audience, "WEBHOOK_JWKS_URL": jwksURL,
				"STATE_PATH": filepath.Join(dir, "state.db"), "RESULTS_SINK": filepath.Join(dir, "results"),
			}
			cfg, err := env.Load(func(k string) string { return vars[k] }, env.Local)
			if err != nil {
				t.Fatal(err)
			}
			var logs syncBuf
			h := &handled{}
			app, err := wire.Build(ctx, cfg, h.mux(), wire.Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil)), LocalQueue: queued, Cloud: testCloud()})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(app.Receiver)
			r := &dynamicRig{receiver: &receiver{t: t, app: app, url: srv.URL}, signer: signer, h: h}
			t.Cleanup(func() { srv.Close(); app.Close() })
			if n := strings.Count(logs.String(), "cannot be confirmed with the Gemini API"); n != 1 || !strings.Contains(logs.String(), "GEMINI_API_KEY") {
				t.Fatalf("start logged the unconfirmable hints %d times: %s", n, logs.String())
			}

			st, o := r.post(r.bareToken(time.Now()), "", envelope("batch.succeeded", map[string]any{"id": "batch_123456"}))
			want, wantOutcome := http.StatusAccepted, core.OutcomeQueued
			if !queued {
				want, wantOutcome = http.StatusOK, core.OutcomeDeadLetter
			}
			if st != want || o != string(wantOutcome) {
				t.Fatalf("%d %s, want %d %s", st, o, want, wantOutcome)
			}
			r.idle()
			dls, err := app.DeadLetters.ListDeadLetters(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(dls) != 1 || !strings.HasPrefix(dls[0].Key, "jwt:hint:") || !strings.Contains(dls[0].Reason, "GEMINI_API_KEY") {
				t.Fatalf("dead letters %+v", dls)
			}
			if list, _ := app.Processing.Ledger.ListJobs(ctx, 10); len(list) != 0 || h.total() != 0 {
				t.Fatalf("acted on an unconfirmed hint: ledger %+v, handlers %v", list, h.runs)
			}
			if !queued {
				return
			}

			// Nothing was lost: with GEMINI_API_KEY set, the replayed dead
			// letter is confirmed, lands and runs the handlers once.
			srv.Close()
			app.Close()
			api := geminitest.New(apiKey)
			defer api.Close()
			out := geminitest.File{Name: "files/out-123456", Size: 10_000, Seed: 26}
			api.AddFile(out)
			api.AddBatch("batches/batch_123456", geminitest.Batch{State: "BATCH_STATE_SUCCEEDED", OutputFile: out.Name})
			vars["GEMINI_API_KEY"], vars["GOOGLE_GEMINI_BASE_URL"] = apiKey, api.URL
			r2 := startMux(t, vars, h.mux())
			if err := r2.app.Processing.Local.Replay(ctx, dls[0].Key); err != nil {
				t.Fatal(err)
			}
			checkLanded(t, r2.job("batches/batch_123456", landed), vars["RESULTS_SINK"], out)
			r2.idle()
			if h.count("batches/batch_123456 batch.succeeded confirmed=true") != 1 || h.total() != 1 {
				t.Fatalf("after the replay, handlers ran %v", h.runs)
			}
		})
	}
}
