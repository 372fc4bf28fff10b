package local

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/scripts/simulator/gemini"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
	"github.com/geminiwebhooks/receiver/scripts/testenv/browser"
)

const inspectSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// inspected is a local server running in this process, as local.Main runs it.
type inspected struct {
	webhook string // http://127.0.0.1:PORT
	open    string // the tokenised inspector URL printed at start
	base    string // the inspector's page, http://127.0.0.1:ADMIN/inspector/
}

var inspectorURL = regexp.MustCompile(`http://127\.0\.0\.1:\d+/inspector/\?token=[0-9a-f]+`)

// startInspected runs the local server around mux on a fresh state file
// and returns once it printed the inspector's URL.
func startInspected(t *testing.T, mux *core.Mux) inspected {
	t.Helper()
	testenv.KeepDefaultLogger(t)
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	vars := map[string]string{
		"WEBHOOK_SIGNING_SECRET": inspectSecret, "PORT": strconv.Itoa(port),
		"STATE_PATH": filepath.Join(dir, "state.db"), "RESULTS_SINK": filepath.Join(dir, "results"),
	}
	stdout, stderr := &testenv.SyncBuffer{}, &testenv.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, mux, func(k string) string { return vars[k] }, stdout, stderr) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("run: %v", err)
		}
		if t.Failed() {
			t.Logf("the server's lines:\n%s", stdout)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if u := inspectorURL.FindString(stderr.String()); u != "" {
			return inspected{webhook: "http://127.0.0.1:" + strconv.Itoa(port), open: u, base: u[:strings.Index(u, "?")]}
		}
		select {
		case err := <-errc:
			t.Fatalf("server stopped: %v\n%s", err, stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no inspector URL printed:\n%s", stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// send delivers one event as the simulator does (its sender and signer),
// once, and returns the receiver's answer.
func (s inspected) send(t *testing.T, d gemini.Delivery) gemini.Result {
	t.Helper()
	snd := gemini.Sender{Signer: gemini.StaticSigner{Secret: inspectSecret}, MaxAttempts: 1}
	r := snd.Send(context.Background(), s.webhook, d)
	if r.Err != nil {
		t.Fatalf("send %s: %v", d.ID, r.Err)
	}
	return r
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

func evalAwait(t *testing.T, ctx context.Context, js string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// within runs steps with a deadline of d (on a context that has run once,
// so the browser outlives it).
func within(t *testing.T, ctx context.Context, d time.Duration, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := chromedp.Do(wctx, steps...); err != nil {
		page, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("document.body.innerText"))
		t.Fatalf("%s (within %s): %v\nthe page:\n%s", what, d, err, page)
	}
}

// TestInspectorInTheBrowser drives the inspector in a real headless
// Chromium against a local server with a user's handlers: the tokenised
// URL opens it and nothing else does; a delivery shows up live; its detail
// shows the formatted body and the signature only truncated; a tampered
// one its reason; a dead letter replayed from the page runs the handler
// once and leaves the list; Resend of a processed delivery comes back a
// duplicate; the pages fit 1280 and 800 px. Each step saves a screenshot
// in the folder the test prints.
func TestInspectorInTheBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium and the local server")
	}
	var expiredRuns, cancelledRuns atomic.Int64
	mux := core.NewMux().
		On(core.BatchExpired, func(context.Context, *core.Event) error {
			if expiredRuns.Add(1) == 1 { // the first run gives up: a dead letter
				return fmt.Errorf("%w: the first run refuses", core.ErrPermanent)
			}
			return nil
		}).
		On(core.BatchCancelled, func(context.Context, *core.Event) error {
			cancelledRuns.Add(1)
			return nil
		})
	srv := startInspected(t, mux)
	dir := browser.ArtifactsDir(t)
	ctx := browser.Start(t, 1280, 800)
	shot := func(name string) { browser.Screenshot(ctx, t, dir, name) }

	t.Run("token", func(t *testing.T) {
		for _, u := range []string{srv.base, srv.base + "?token=0123", srv.base + "jobs", srv.base + "events"} {
			resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(u))
			if err != nil {
				t.Fatalf("%s: %v", u, err)
			}
			if body := eval[string](t, ctx, "document.body.innerText"); resp.Status != http.StatusUnauthorized || strings.TrimSpace(body) != "unauthorized" {
				t.Errorf("%s: %d %q, want 401 and nothing but unauthorized", u, resp.Status, body)
			}
		}
		shot("1-bare-url-refused")
		do(t, ctx, "open the tokenised URL", chromedp.Navigate(srv.open), chromedp.WaitVisible(chromedp.CSS("#deliveries")))
		if loc := eval[string](t, ctx, "location.href"); loc != srv.base {
			t.Errorf("address bar %q, want %q (the token leaves it)", loc, srv.base)
		}
		shot("2-opened")
	})

	t.Run("live delivery", func(t *testing.T) {
		do(t, ctx, "deliveries", chromedp.Navigate(srv.base), chromedp.WaitVisible(chromedp.CSS("#deliveries")),
			chromedp.Poll[chromedp.Void](`document.getElementById("live").hidden === false`))
		eval[int](t, ctx, "window.notReloaded = 1")
		id := gemini.NewID()
		body := gemini.Marshal(core.BatchCancelled, time.Now(), map[string]any{"id": "batches/inspector-live"})
		if r := srv.send(t, gemini.Delivery{ID: id, EventType: core.BatchCancelled, Body: body}); r.Status != http.StatusAccepted {
			t.Fatalf("delivery: %d %s", r.Status, r.Outcome)
		}
		within(t, ctx, time.Second, "the delivery in the open page", chromedp.WaitVisible(chromedp.CSS(`#deliveries tr[data-id="`+id+`"]`)))
		if eval[int](t, ctx, "window.notReloaded || 0") != 1 {
			t.Error("the page reloaded")
		}
		shot("3-live")

		t.Run("detail", func(t *testing.T) {
			do(t, ctx, "open the detail", chromedp.Click(chromedp.CSS(`#deliveries tr[data-id="`+id+`"] a`)), chromedp.WaitVisible(chromedp.CSS("#body-pretty")))
			pretty := eval[string](t, ctx, `document.getElementById("body-pretty").textContent`)
			if !strings.Contains(pretty, "{\n  \"type\": \"batch.cancelled\",\n") || !strings.Contains(pretty, "\"id\": \"batches/inspector-live\"") {
				t.Errorf("formatted body:\n%s", pretty)
			}
			cell := eval[string](t, ctx, `[...document.querySelectorAll("table.kv tr")].find(r => r.cells[0].textContent === "Webhook-Signature").cells[0].nextElementSibling.textContent`)
			ts, _ := strconv.ParseInt(eval[string](t, ctx, `[...document.querySelectorAll("table.kv tr")].find(r => r.cells[0].textContent === "Webhook-Timestamp").cells[1].textContent`), 10, 64)
			sig, err := gemini.StaticSignature(inspectSecret, id, time.Unix(ts, 0), body)
			if err != nil {
				t.Fatal(err)
			}
			if want := sig[:12] + "…(" + strconv.Itoa(len(sig)) + " chars)"; cell != want {
				t.Errorf("signature shown as %q, want %q", cell, want)
			}
			if html := eval[string](t, ctx, "document.documentElement.outerHTML"); strings.Contains(html, sig[3:]) {
				t.Error("the page holds the whole signature")
			}
			shot("4-detail")
		})
	})

	t.Run("tampered", func(t *testing.T) {
		do(t, ctx, "deliveries", chromedp.Navigate(srv.base), chromedp.WaitVisible(chromedp.CSS("#deliveries")))
		id := gemini.NewID()
		if r := srv.send(t, gemini.Delivery{ID: id, Body: gemini.Payload(core.BatchFailed), Tamper: true, Final: []int{401}}); r.Status != http.StatusUnauthorized {
			t.Fatalf("tampered delivery: %d", r.Status)
		}
		row := chromedp.CSS(`#deliveries tr[data-id="` + id + `"][data-outcome="rejected"]`)
		within(t, ctx, 10*time.Second, "the rejected delivery", chromedp.WaitVisible(row))
		do(t, ctx, "its detail", chromedp.Click(chromedp.CSS(`#deliveries tr[data-id="`+id+`"] a`)), chromedp.WaitVisible(chromedp.CSS("#reason")))
		if reason := eval[string](t, ctx, `document.getElementById("reason").textContent`); !strings.Contains(reason, "signature verification failed") {
			t.Errorf("reason %q", reason)
		}
		shot("5-tampered")
	})

	t.Run("replay dead letter", func(t *testing.T) {
		id := gemini.NewID()
		body := gemini.Marshal(core.BatchExpired, time.Now(), map[string]any{"id": "batches/inspector-dead"})
		if r := srv.send(t, gemini.Delivery{ID: id, EventType: core.BatchExpired, Body: body}); r.Status != http.StatusAccepted {
			t.Fatalf("delivery: %d", r.Status)
		}
		row := `#deadletters tr[data-key="` + id + `"]`
		deadline := time.Now().Add(20 * time.Second)
		for {
			do(t, ctx, "dead letters", chromedp.Navigate(srv.base+"deadletters"), chromedp.WaitVisible(chromedp.CSS("#deadletters")))
			if eval[bool](t, ctx, `!!document.querySelector('`+row+`')`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no dead letter %s (handler runs: %d)", id, expiredRuns.Load())
			}
			time.Sleep(100 * time.Millisecond)
		}
		shot("6-dead-letter")
		if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(row+" button.replay"))); err != nil {
			t.Fatalf("replay: %v", err)
		}
		within(t, ctx, 20*time.Second, "the replayed row processed and gone from the list", chromedp.Poll[chromedp.Void](`(() => {
			const c = document.querySelector('#replayed tr[data-key="`+id+`"] .outcome');
			return c && c.textContent === "processed" && !document.querySelector('`+row+`');
		})()`))
		if n := expiredRuns.Load(); n != 2 {
			t.Errorf("the handler ran %d times, want 2 (the refused run, then the replay once)", n)
		}
		shot("7-replayed")
	})

	t.Run("resend duplicate", func(t *testing.T) {
		id := gemini.NewID()
		body := gemini.Marshal(core.BatchCancelled, time.Now(), map[string]any{"id": "batches/inspector-resend"})
		before := cancelledRuns.Load()
		if r := srv.send(t, gemini.Delivery{ID: id, EventType: core.BatchCancelled, Body: body}); r.Status != http.StatusAccepted {
			t.Fatalf("delivery: %d", r.Status)
		}
		do(t, ctx, "find it", chromedp.Navigate(srv.base+"?q="+url.QueryEscape(id)), chromedp.Click(chromedp.CSS(`#deliveries tr[data-id="`+id+`"] a`)), chromedp.WaitVisible(chromedp.CSS("#handlers")))
		// The page reloads itself when the task line arrives.
		within(t, ctx, 20*time.Second, "processed by the handlers", chromedp.Poll[chromedp.Void](`document.getElementById("handlers") && document.getElementById("handlers").textContent.startsWith("processed")`))
		if n := cancelledRuns.Load(); n != before+1 {
			t.Fatalf("handler ran %d times", n-before)
		}
		if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS("#resend"))); err != nil {
			t.Fatalf("resend: %v", err)
		}
		if got := eval[string](t, ctx, `document.getElementById("outcome").textContent`); got != "duplicate" {
			t.Errorf("resend's outcome %q, want duplicate", got)
		}
		if page := eval[string](t, ctx, "document.body.innerText"); !strings.Contains(page, "a resend of") || !strings.Contains(page, id) {
			t.Errorf("the resend's page does not say what it resent:\n%s", page)
		}
		shot("8-resend-duplicate")
		if n := cancelledRuns.Load(); n != before+1 {
			t.Errorf("handler ran %d times after the resend, want once", n-before)
		}
	})

	t.Run("layout", func(t *testing.T) {
		detail := eval[string](t, ctx, "location.href")
		for _, w := range []int64{1280, 800} {
			for _, u := range []string{srv.base, detail, srv.base + "jobs", srv.base + "deadletters"} {
				do(t, ctx, u, chromedp.EmulateViewport(w, 800), chromedp.Navigate(u), chromedp.WaitVisible(chromedp.CSS("main")))
				if sw := eval[int](t, ctx, "document.documentElement.scrollWidth"); sw > int(w) {
					t.Errorf("%s at %d px: the page is %d px wide", u, w, sw)
				}
			}
			do(t, ctx, "deliveries", chromedp.Navigate(srv.base), chromedp.WaitVisible(chromedp.CSS("#deliveries")))
			shot("9-deliveries-" + strconv.Itoa(int(w)))
		}
		if jobs := evalAwait(t, ctx, "fetch('jobs').then(r => r.text())"); !strings.Contains(jobs, "batches/inspector-live") {
			t.Errorf("the jobs table lacks batches/inspector-live")
		}
	})
}

// TestInspectorRefusesWithoutSessionOrCSRF: the page answers 401 without
// the token or a session, sets the session cookie HttpOnly and
// SameSite=Strict, refuses a state-changing request without the session's
// CSRF token, and leaves the admin API behind its own token.
func TestInspectorRefusesWithoutSessionOrCSRF(t *testing.T) {
	srv := startInspected(t, core.NewMux())
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	status := func(req *http.Request) int {
		t.Helper()
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	get := func(u string) *http.Request { r, _ := http.NewRequest(http.MethodGet, u, nil); return r }
	post := func(u, form string, c *http.Cookie) *http.Request {
		r, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if c != nil {
			r.AddCookie(c)
		}
		return r
	}
	for _, u := range []string{srv.base, srv.base + "?token=", srv.base + "?token=00", srv.base + "deadletters", srv.base + "static/app.js"} {
		if got := status(get(u)); got != http.StatusUnauthorized {
			t.Errorf("GET %s: %d, want 401", u, got)
		}
	}
	resp, err := noRedirect.Do(get(srv.open))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookies := resp.Cookies()
	if resp.StatusCode != http.StatusSeeOther || len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("tokenised URL: %d, cookies %+v; want 303 and one HttpOnly SameSite=Strict cookie", resp.StatusCode, cookies)
	}
	session := cookies[0]
	page := get(srv.base)
	page.AddCookie(session)
	if got := status(page); got != http.StatusOK {
		t.Errorf("with the session: %d", got)
	}
	for name, req := range map[string]*http.Request{
		"no session":   post(srv.base+"deadletters/replay", "all=1", nil),
		"no CSRF":      post(srv.base+"deadletters/replay", "all=1", session),
		"wrong CSRF":   post(srv.base+"deadletters/replay", "all=1&csrf=00", session),
		"resend, none": post(srv.base+"resend", "seq=1", session),
	} {
		want := http.StatusForbidden
		if name == "no session" {
			want = http.StatusUnauthorized
		}
		if got := status(req); got != want {
			t.Errorf("%s: %d, want %d", name, got, want)
		}
	}
	admin, _ := url.Parse(srv.base)
	admin.Path = "/jobs"
	if got := status(get(admin.String())); got != http.StatusUnauthorized {
		t.Errorf("admin API without its token: %d", got)
	}
	jobs := get(admin.String())
	jobs.AddCookie(session)
	if got := status(jobs); got != http.StatusUnauthorized {
		t.Errorf("admin API with the inspector's session: %d, want 401", got)
	}
}
