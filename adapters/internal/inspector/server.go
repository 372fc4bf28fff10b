package inspector

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"when":   func(t time.Time) string { return t.Local().Format("15:04:05.000") },
	"date":   func(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") },
	"ms":     func(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) },
	"short":  func(s string) string { return shorten(s, 40) },
	"is":     func(a, b string) bool { return a == b },
	"pretty": prettyJSON,
	"asJSON": func(v any) string { b, _ := json.MarshalIndent(v, "", "  "); return string(b) },
}).ParseFS(templateFS, "templates/*.html"))

const sessionCookie = "gemini_inspector"

// ServeHTTP serves the page under Prefix: a request with the access token
// (?token=) gets a session cookie and is sent on to the page; every other
// one needs the session (401 without it), and every POST also the
// session's CSRF token.
func (in *Inspector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
	if t := r.URL.Query().Get("token"); t != "" && r.Method == http.MethodGet {
		if !in.tokenOK(t) {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		id := in.newSession()
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: Prefix, HttpOnly: true, SameSite: http.SameSiteStrictMode})
		http.Redirect(w, r, Prefix, http.StatusSeeOther) // the token leaves the address bar and the history
		return
	}
	csrf, ok := in.session(r)
	if !ok {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if !sameToken(r.PostFormValue("csrf"), csrf) {
			http.Error(w, "forbidden: missing or wrong CSRF token", http.StatusForbidden)
			return
		}
	}
	ctx := context.WithValue(r.Context(), csrfKey{}, csrf)
	in.handler.ServeHTTP(w, r.WithContext(ctx))
}

type csrfKey struct{}

func (in *Inspector) newSession() string {
	id, csrf := randomHex(24), randomHex(24)
	in.sessMu.Lock()
	defer in.sessMu.Unlock()
	if len(in.sessions) >= maxSessions { // bounded: the oldest does not matter, any one goes
		for k := range in.sessions {
			delete(in.sessions, k)
			break
		}
	}
	in.sessions[id] = csrf
	return id
}

func (in *Inspector) session(r *http.Request) (csrf string, ok bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return "", false
	}
	in.sessMu.Lock()
	defer in.sessMu.Unlock()
	for id, csrf := range in.sessions {
		if sameToken(c.Value, id) {
			return csrf, true
		}
	}
	return "", false
}

func sameToken(a, b string) bool {
	return a != "" && len(a) == len(b) && subtleEq(a, b)
}

func (in *Inspector) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET "+Prefix+"static/", http.StripPrefix(Prefix+"static/", http.FileServerFS(static)))
	mux.HandleFunc("GET "+Prefix+"{$}", in.deliveries)
	mux.HandleFunc("GET "+Prefix+"delivery/{seq}", in.delivery)
	mux.HandleFunc("GET "+Prefix+"jobs", in.jobs)
	mux.HandleFunc("GET "+Prefix+"job", in.job)
	mux.HandleFunc("GET "+Prefix+"download", in.download)
	mux.HandleFunc("GET "+Prefix+"deadletters", in.deadLetters)
	mux.HandleFunc("POST "+Prefix+"deadletters/replay", in.replay)
	mux.HandleFunc("POST "+Prefix+"resend", in.resend)
	mux.HandleFunc("GET "+Prefix+"events", in.events)
	return mux
}

// page is what every template gets.
type page struct {
	Title, Nav string
	CSRF       string
	Error      string
	Data       any
}

func (in *Inspector) render(w http.ResponseWriter, r *http.Request, name, nav, title string, data any) {
	var buf bytes.Buffer
	csrf, _ := r.Context().Value(csrfKey{}).(string)
	if err := pages.ExecuteTemplate(&buf, name, page{Title: title, Nav: nav, CSRF: csrf, Data: data}); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

// filter is the deliveries list's query: type, outcome, q (a delivery or job id).
type filter struct {
	Type, Outcome, Q string
	Types, Outcomes  []string
}

func (f filter) keep(e *Entry) bool {
	if f.Type != "" && e.EventType != f.Type {
		return false
	}
	if f.Outcome != "" && e.Outcome != f.Outcome {
		return false
	}
	return f.Q == "" || strings.Contains(e.ID, f.Q) || strings.Contains(e.JobID, f.Q)
}

var outcomes = []string{"processed", "queued", "duplicate", "rejected", "in_progress", "conflict", "failed", "dead_letter"}

func (in *Inspector) deliveries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := filter{Type: q.Get("type"), Outcome: q.Get("outcome"), Q: strings.TrimSpace(q.Get("q")), Outcomes: outcomes}
	f.Types = append(f.Types, core.BatchSucceeded, core.BatchCancelled, core.BatchExpired, core.BatchFailed,
		core.InteractionRequiresAction, core.InteractionCompleted, core.InteractionFailed, core.InteractionCancelled, core.VideoGenerated)
	for _, e := range in.entries(nil) {
		if e.EventType != "" && !slices.Contains(f.Types, e.EventType) {
			f.Types = append(f.Types, e.EventType)
		}
	}
	in.render(w, r, "deliveries.html", "deliveries", "Deliveries", struct {
		Filter  filter
		Entries []Entry
		Max     int
	}{f, in.entries(f.keep), MaxEntries})
}

func (in *Inspector) delivery(w http.ResponseWriter, r *http.Request) {
	seq, _ := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	e, ok := in.entry(seq)
	if !ok {
		http.Error(w, "no such delivery (the page keeps the last 1,000)", http.StatusNotFound)
		return
	}
	be := in.backend()
	d := struct {
		E          Entry
		Job        *jobs.Job
		JobErr     string
		CanResend  string // why not, when not
		Duplicates []Entry
	}{E: e}
	if e.JobID != "" && be.Ledger != nil {
		j, err := be.Ledger.GetJob(r.Context(), e.JobID)
		d.Job = j
		if err != nil {
			d.JobErr = err.Error()
		}
	}
	d.CanResend = resendable(be, e)
	d.Duplicates = in.entries(func(x *Entry) bool { return x.ResendOf == e.Seq })
	in.render(w, r, "delivery.html", "deliveries", "Delivery "+e.ID, d)
}

// resendable says why e cannot be resent ("" when it can).
func resendable(be Backend, e Entry) string {
	switch {
	case be.Secret == "" || be.ReceiverURL == "":
		return "Resend signs with the local whsec_ secret, and none is configured."
	case e.Unverified || e.ID == "":
		return "Only a verified delivery can be resent."
	case e.Scheme != string(core.SchemeStatic):
		return "Only a static (whsec_) delivery can be signed afresh locally."
	case e.BodyTruncated:
		return fmt.Sprintf("The body is over %d bytes; the page keeps only the first %d.", MaxBody, MaxBody)
	}
	return ""
}

func (in *Inspector) jobs(w http.ResponseWriter, r *http.Request) {
	be := in.backend()
	var js []jobs.Job
	var errText string
	if be.Ledger == nil {
		errText = "this server keeps no job ledger"
	} else if all, err := be.Ledger.ListJobs(r.Context(), 0); err != nil {
		errText = err.Error()
	} else {
		js = all
	}
	sort.SliceStable(js, func(i, k int) bool { return js[i].UpdatedAt.After(js[k].UpdatedAt) })
	in.render(w, r, "jobs.html", "jobs", "Jobs", struct {
		Jobs []jobs.Job
		Err  string
	}{js, errText})
}

func (in *Inspector) job(w http.ResponseWriter, r *http.Request) {
	be := in.backend()
	id := r.URL.Query().Get("id")
	if be.Ledger == nil {
		http.Error(w, "this server keeps no job ledger", http.StatusNotImplemented)
		return
	}
	j, err := be.Ledger.GetJob(r.Context(), id)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if j == nil {
		http.Error(w, "no such job", http.StatusNotFound)
		return
	}
	in.render(w, r, "job.html", "jobs", "Job "+id, struct {
		Job     *jobs.Job
		Entries []Entry
	}{j, in.entries(func(e *Entry) bool { return e.JobID == id })})
}

// download streams a job's landed output or manifest from the sink; only
// what the job's ledger record names can be read.
func (in *Inspector) download(w http.ResponseWriter, r *http.Request) {
	be := in.backend()
	if be.Ledger == nil || be.Sink == nil {
		http.Error(w, "nothing lands here", http.StatusNotImplemented)
		return
	}
	j, err := be.Ledger.GetJob(r.Context(), r.URL.Query().Get("id"))
	if err != nil || j == nil {
		http.Error(w, "no such job", http.StatusNotFound)
		return
	}
	var uri string
	switch r.URL.Query().Get("what") {
	case "output":
		if j.Output != nil {
			uri = j.Output.URI
		}
	case "manifest":
		uri = j.ManifestURI
	}
	root := strings.TrimSuffix(be.Sink.URI(""), "/") + "/"
	key, ok := strings.CutPrefix(uri, root)
	if !ok || key == "" {
		http.Error(w, "nothing landed under the sink for this job", http.StatusNotFound)
		return
	}
	rc, err := be.Sink.Open(r.Context(), key)
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, core.ErrNotFound) {
			status = http.StatusNotFound
		}
		http.Error(w, err.Error(), status)
		return
	}
	defer rc.Close()
	name := key[strings.LastIndex(key, "/")+1:]
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
	_, _ = io.Copy(w, rc)
}

func (in *Inspector) deadLetters(w http.ResponseWriter, r *http.Request) {
	be := in.backend()
	var dls []core.DeadLetter
	var errText string
	if be.DeadLetters == nil {
		errText = "this store keeps no dead letters"
	} else if all, err := be.DeadLetters.ListDeadLetters(r.Context(), 0); err != nil {
		errText = err.Error()
	} else {
		dls = all
	}
	type replayed struct{ Key, Outcome string }
	in.mu.Lock()
	rs := make([]replayed, 0, len(in.replays))
	for k, o := range in.replays {
		rs = append(rs, replayed{k, o})
	}
	in.mu.Unlock()
	sort.Slice(rs, func(i, k int) bool { return rs[i].Key < rs[k].Key })
	in.render(w, r, "deadletters.html", "deadletters", "Dead letters", struct {
		DeadLetters []core.DeadLetter
		Replayed    []replayed
		Err         string
		Msg         string
	}{dls, rs, errText, r.URL.Query().Get("msg")})
}

// replay replays one dead letter (key) or all of them (all=1) through the
// admin command's path, then shows the list again.
func (in *Inspector) replay(w http.ResponseWriter, r *http.Request) {
	be := in.backend()
	if be.Replay == nil || be.DeadLetters == nil {
		http.Error(w, "this store keeps no dead letters", http.StatusNotImplemented)
		return
	}
	keys := []string{r.PostFormValue("key")}
	if r.PostFormValue("all") != "" {
		all, err := be.DeadLetters.ListDeadLetters(r.Context(), 0)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		keys = keys[:0]
		for _, d := range all {
			keys = append(keys, d.Key)
		}
	}
	var msgs []string
	for _, k := range keys {
		in.mu.Lock()
		if len(in.replays) >= MaxEntries {
			clear(in.replays)
		}
		in.replays[k] = "queued"
		in.mu.Unlock()
		if err := be.Replay(r.Context(), k); err != nil {
			in.mu.Lock()
			delete(in.replays, k)
			in.mu.Unlock()
			msgs = append(msgs, k+": "+err.Error())
		}
	}
	msg := fmt.Sprintf("replayed %d", len(keys)-len(msgs))
	if len(msgs) > 0 {
		msg += "; failed: " + strings.Join(msgs, "; ")
	}
	http.Redirect(w, r, Prefix+"deadletters?msg="+urlQuery(msg), http.StatusSeeOther)
}

// resend posts entry seq's body again to the webhook port with its
// delivery id, signed afresh with the local secret: it is verified and
// deduplicated like any delivery (a processed one comes back a duplicate).
func (in *Inspector) resend(w http.ResponseWriter, r *http.Request) {
	be := in.backend()
	seq, _ := strconv.ParseUint(r.PostFormValue("seq"), 10, 64)
	e, ok := in.entry(seq)
	if !ok {
		http.Error(w, "no such delivery", http.StatusNotFound)
		return
	}
	if why := resendable(be, e); why != "" {
		http.Error(w, why, http.StatusConflict)
		return
	}
	sig, err := sign(be.Secret, e.ID, time.Now(), e.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	nonce := randomHex(12)
	in.mu.Lock()
	in.resends[nonce] = seq
	in.mu.Unlock()
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, be.ReceiverURL, bytes.NewReader(e.Body))
	for k, v := range sig {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(resendHeader, nonce)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		in.mu.Lock()
		delete(in.resends, nonce)
		in.mu.Unlock()
		http.Error(w, "resend: "+err.Error(), http.StatusBadGateway)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	// The webhook port's middleware kept the entry before it answered.
	if got := in.entries(func(x *Entry) bool { return x.ResendOf == seq }); len(got) > 0 {
		http.Redirect(w, r, Prefix+"delivery/"+strconv.FormatUint(got[0].Seq, 10), http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, Prefix+"delivery/"+strconv.FormatUint(seq, 10), http.StatusSeeOther)
}
