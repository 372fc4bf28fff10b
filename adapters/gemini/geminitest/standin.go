// Package geminitest is a loopback stand-in for the parts of the Gemini API
// the receiver reads (batches.get, batches.list, files.get, files download), for tests
// and benchmarks. Point GOOGLE_GEMINI_BASE_URL (or gemini.Config.BaseURL)
// at Server.URL. Outputs are generated on the fly from a seed, so a
// 300 MiB file costs the stand-in no memory, and Expect computes what a
// correct landing must produce independently of the receiver's code.
package geminitest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// apiVersion is the path prefix the SDK uses for the Gemini Developer API.
const apiVersion = "v1beta"

// Batch is a batch as the stand-in reports it.
type Batch struct {
	State        string // BATCH_STATE_SUCCEEDED, BATCH_STATE_FAILED, BATCH_STATE_RUNNING, …
	OutputFile   string // files/… (metadata.output.responsesFile)
	Inline       []map[string]any
	ErrorCode    int
	ErrorMessage string
	// Created is the batch's createTime (and updateTime); zero: when added.
	Created time.Time
}

// Interaction is an interaction as the stand-in reports it.
type Interaction struct {
	Status       string // completed, failed, cancelled, in_progress, requires_action, …
	ErrorMessage string
}

// File is a file the stand-in serves.
type File struct {
	Name     string // files/…
	MIMEType string
	Size     int64
	Seed     int64
	// CutAfter > 0 makes the next CutTimes downloads stop after that many
	// bytes by closing the connection, as a network failure would.
	CutAfter int64
	CutTimes int
	// WrongSize reports a size in the metadata that differs from the bytes served.
	WrongSize int64
	// Source is the file's source in the metadata: "" reports GENERATED.
	Source string
}

// Server is the stand-in. Zero-configured batches and files are answered
// 404 unless Auto is set.
type Server struct {
	*httptest.Server
	APIKey string // the key the stand-in demands in x-goog-api-key ("" accepts any)

	mu        sync.Mutex
	batches   map[string]*Batch
	files     map[string]*File
	inters    map[string]Interaction
	downloads map[string]int
	gets      map[string]int
	order     []string // batch names, in the order added: the list's order
	hooks     []Webhook
	lists     int // list pages served
	// Auto answers unknown batches as succeeded with a generated output
	// file of AutoSize bytes, and unknown files as generated videos: what
	// the simulator's random ids need.
	auto     bool
	autoSize int64

	// Scripted conversations (interactions.go): each interaction's round,
	// the creates taken, creates to fail, gets per interaction.
	rounds      map[string]roundOf
	conts       []Continuation
	failCreates int
	interGets   map[string]int
	starts      []Conversation
}

// New starts a stand-in demanding apiKey on a free loopback port.
func New(apiKey string) *Server {
	s := newServer(apiKey)
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Listen starts a stand-in demanding apiKey on addr ("127.0.0.1:8090"; port
// 0 picks a free one): the simulator's standin subcommand serves it as a
// process. Close stops it.
func Listen(addr, apiKey string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("gemini stand-in: %w", err)
	}
	s := newServer(apiKey)
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.Server.Listener.Close()
	s.Server.Listener = ln
	s.Server.Start()
	return s, nil
}

func newServer(apiKey string) *Server {
	return &Server{
		APIKey: apiKey, batches: map[string]*Batch{}, files: map[string]*File{}, inters: map[string]Interaction{},
		downloads: map[string]int{}, gets: map[string]int{}, autoSize: 64 << 10,
		rounds: map[string]roundOf{}, interGets: map[string]int{},
	}
}

// SetAuto turns automatic batches and files on (size: of each batch output).
func (s *Server) SetAuto(size int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.auto, s.autoSize = true, size
}

// AddBatch registers a batch ("batches/…").
func (s *Server) AddBatch(name string, b Batch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b.Created.IsZero() {
		b.Created = time.Now().UTC()
	}
	if _, ok := s.batches[name]; !ok {
		s.order = append(s.order, name)
	}
	s.batches[name] = &b
}

// Has reports whether the stand-in was told about name (batches/…,
// files/…, or an interaction's id) or made it automatically already.
func (s *Server) Has(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, b := s.batches[name]
	_, f := s.files[name]
	_, i := s.inters[strings.TrimPrefix(name, "interactions/")]
	_, c := s.rounds[strings.TrimPrefix(name, "interactions/")]
	i = i || c
	return b || f || i
}

// ListCalls is how many pages of batches.list were served.
func (s *Server) ListCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lists
}

// TotalBatchGets is how many batches.get calls were answered, of any batch.
func (s *Server) TotalBatchGets() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.gets {
		n += c
	}
	return n
}

// Webhook is a project webhook the stand-in's WebhookService lists.
type Webhook struct {
	ID, URI string
	State   string      // enabled, disabled, disabled_due_to_failed_deliveries
	Expires []time.Time // one signing secret per entry; a zero time does not expire
}

// AddWebhook makes the stand-in list w (GET /v1beta/webhooks).
func (s *Server) AddWebhook(w Webhook) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks = append(s.hooks, w)
}

// listWebhooks answers webhooks.list in one page.
func (s *Server) listWebhooks(w http.ResponseWriter) {
	s.mu.Lock()
	hooks := append([]Webhook(nil), s.hooks...)
	s.mu.Unlock()
	out := []any{}
	for _, h := range hooks {
		secrets := []any{}
		for i, e := range h.Expires {
			m := map[string]any{"truncated_secret": fmt.Sprintf("whsec_...%04d", i)}
			if !e.IsZero() {
				m["expire_time"] = e.UTC().Format(time.RFC3339Nano)
			}
			secrets = append(secrets, m)
		}
		out = append(out, map[string]any{
			"id": h.ID, "uri": h.URI, "state": h.State, "subscribed_events": []string{"batch.succeeded"},
			"signing_secrets": secrets,
		})
	}
	writeJSON(w, map[string]any{"webhooks": out})
}

// defaultPageSize is the page size of batches.list when the call names none.
const defaultPageSize = 50

// listBatches answers batches.list: the batches in the order added, a page
// of pageSize (at most 1000) from pageToken (the index of the next one).
func (s *Server) listBatches(w http.ResponseWriter, r *http.Request) {
	size, _ := strconv.Atoi(r.URL.Query().Get("pageSize"))
	if size <= 0 {
		size = defaultPageSize
	}
	size = min(size, 1000)
	from := 0
	if tok := r.URL.Query().Get("pageToken"); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 {
			apiErr(w, http.StatusBadRequest, "bad page token")
			return
		}
		from = n
	}
	s.mu.Lock()
	s.lists++
	var page []Batch
	var names []string
	for i := from; i < len(s.order) && len(page) < size; i++ {
		names = append(names, s.order[i])
		page = append(page, *s.batches[s.order[i]])
	}
	next := ""
	if from+len(page) < len(s.order) {
		next = strconv.Itoa(from + len(page))
	}
	s.mu.Unlock()
	ops := make([]any, len(page))
	for i := range page {
		ops[i] = batchOp(names[i], page[i])
	}
	out := map[string]any{"operations": ops}
	if next != "" {
		out["nextPageToken"] = next
	}
	writeJSON(w, out)
}

// AddFile registers a file.
func (s *Server) AddFile(f File) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.MIMEType == "" {
		f.MIMEType = "application/jsonl"
	}
	s.files[f.Name] = &f
}

// Downloads is how many downloads of file name were started.
func (s *Server) Downloads(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.downloads[name]
}

// TotalDownloads is how many downloads were started, of any file.
func (s *Server) TotalDownloads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.downloads {
		n += c
	}
	return n
}

// BatchGets is how many times batch name was read.
func (s *Server) BatchGets(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gets[name]
}

// FileOf returns the file the stand-in serves for name (auto ones included).
func (s *Server) FileOf(name string) (File, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.file(name)
	if f == nil {
		return File{}, false
	}
	return *f, true
}

// AutoOutput is the output file an automatic batch reports.
func AutoOutput(batch string) string {
	return "files/out-" + strings.ToLower(strings.TrimPrefix(batch, "batches/"))
}

// AnnouncePath is where a sender in another process tells the stand-in
// what an event is about to announce (POST {"type": …, "job": …}), so that
// the API agrees with the event: see Announce.
const AnnouncePath = "/standin/announce"

// Announce makes the stand-in report the end an event of eventType
// announces for job (batches/…, interactions/…), unless it knows the job
// already: a failed, cancelled or expired batch, and a failed, cancelled
// or waiting interaction. Without it, Auto would report every batch
// succeeded and every interaction completed, and a receiver confirming a
// batch.failed with the API would land results.
func (s *Server) Announce(eventType, job string) {
	if job == "" || s.Has(job) {
		return
	}
	batch := map[string]string{"batch.failed": "BATCH_STATE_FAILED", "batch.cancelled": "BATCH_STATE_CANCELLED", "batch.expired": "BATCH_STATE_EXPIRED"}
	inter := map[string]string{"interaction.failed": "failed", "interaction.cancelled": "cancelled", "interaction.requires_action": "requires_action"}
	if st, ok := batch[eventType]; ok {
		s.AddBatch(job, Batch{State: st})
	}
	if st, ok := inter[eventType]; ok {
		s.AddInteraction(strings.TrimPrefix(job, "interactions/"), Interaction{Status: st})
	}
}

func (s *Server) announce(w http.ResponseWriter, r *http.Request) {
	var a struct{ Type, Job string }
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&a); err != nil || a.Type == "" || a.Job == "" {
		apiErr(w, http.StatusBadRequest, `want {"type": EVENT_TYPE, "job": NAME}`)
		return
	}
	s.Announce(a.Type, a.Job)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && r.URL.Path == AnnouncePath {
		s.announce(w, r)
		return
	}
	if r.Method == http.MethodPost && r.URL.Path == ConversationPath {
		s.scriptConversation(w, r)
		return
	}
	if r.Method == http.MethodGet && r.URL.Path == ContinuationsPath {
		writeJSON(w, s.Continuations())
		return
	}
	if s.APIKey != "" && r.Header.Get("x-goog-api-key") != s.APIKey {
		apiErr(w, http.StatusForbidden, "API key not valid")
		return
	}
	path, ok := strings.CutPrefix(r.URL.Path, "/"+apiVersion+"/")
	if !ok {
		apiErr(w, http.StatusNotFound, "unknown path "+r.URL.Path)
		return
	}
	if r.Method == http.MethodPost && path == "interactions" {
		s.createInteraction(w, r)
		return
	}
	if r.Method != http.MethodGet {
		apiErr(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	switch {
	case path == "batches":
		s.listBatches(w, r)
	case path == "webhooks":
		s.listWebhooks(w)
	case strings.HasPrefix(path, "batches/"):
		s.getBatch(w, path)
	case strings.HasPrefix(path, "files/") && strings.HasSuffix(path, ":download"):
		s.download(w, r, strings.TrimSuffix(path, ":download"))
	case strings.HasPrefix(path, "files/"):
		s.getFile(w, path)
	case strings.HasPrefix(path, "interactions/"):
		s.getInteraction(w, strings.TrimPrefix(path, "interactions/"))
	default:
		apiErr(w, http.StatusNotFound, "unknown path "+r.URL.Path)
	}
}

func (s *Server) getBatch(w http.ResponseWriter, name string) {
	s.mu.Lock()
	s.gets[name]++
	b := s.batches[name]
	if b == nil && s.auto {
		out := AutoOutput(name)
		b = &Batch{State: "BATCH_STATE_SUCCEEDED", OutputFile: out, Created: time.Now().UTC()}
		s.batches[name] = b
		s.order = append(s.order, name)
		s.files[out] = &File{Name: out, MIMEType: "application/jsonl", Size: s.autoSize, Seed: int64(len(name))}
	}
	var bc Batch
	if b != nil {
		bc = *b
	}
	s.mu.Unlock()
	if b == nil {
		apiErr(w, http.StatusNotFound, "batch "+name+" not found")
		return
	}
	writeJSON(w, batchOp(name, bc))
}

// batchOp is the long-running operation the API answers for a batch.
func batchOp(name string, bc Batch) map[string]any {
	now := bc.Created.UTC().Format(time.RFC3339Nano)
	md := map[string]any{
		"@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
		"model": "models/gemini-2.5-flash", "displayName": "stand-in batch",
		"state": bc.State, "createTime": now, "updateTime": now,
	}
	out := map[string]any{}
	if bc.OutputFile != "" {
		out["responsesFile"] = bc.OutputFile
	}
	if bc.Inline != nil {
		items := make([]any, len(bc.Inline))
		for i, it := range bc.Inline {
			items[i] = it
		}
		out["inlinedResponses"] = map[string]any{"inlinedResponses": items}
	}
	if len(out) > 0 {
		md["output"] = out
	}
	op := map[string]any{"name": name, "metadata": md}
	switch bc.State {
	case "BATCH_STATE_SUCCEEDED", "BATCH_STATE_FAILED", "BATCH_STATE_CANCELLED", "BATCH_STATE_EXPIRED":
		op["done"] = true
	}
	if bc.ErrorMessage != "" {
		op["error"] = map[string]any{"code": bc.ErrorCode, "message": bc.ErrorMessage}
	}
	return op
}

// AddInteraction makes the stand-in answer for interactions/id.
func (s *Server) AddInteraction(id string, it Interaction) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inters[id] = it
}

// getInteraction answers the Interactions API's get; with Auto, an unknown
// interaction is completed.
func (s *Server) getInteraction(w http.ResponseWriter, id string) {
	if out, ok := s.conversationJSON(id); ok {
		writeJSON(w, out)
		return
	}
	s.mu.Lock()
	it, ok := s.inters[id]
	if !ok && s.auto {
		it, ok = Interaction{Status: "completed"}, true
	}
	s.mu.Unlock()
	if !ok {
		interactionErr(w, http.StatusNotFound, "interaction "+id+" not found")
		return
	}
	out := map[string]any{"id": id, "status": it.Status}
	if it.ErrorMessage != "" {
		out["errors"] = []any{map[string]any{"code": "failed", "message": it.ErrorMessage}}
	}
	writeJSON(w, out)
}

// file returns the file for name, making an automatic video if need be.
func (s *Server) file(name string) *File {
	f := s.files[name]
	if f == nil && s.auto && strings.HasPrefix(name, "files/") {
		f = &File{Name: name, MIMEType: "video/mp4", Size: 256 << 10, Seed: int64(len(name)) + 7}
		s.files[name] = f
	}
	return f
}

func (s *Server) getFile(w http.ResponseWriter, name string) {
	s.mu.Lock()
	f := s.file(name)
	var fc File
	if f != nil {
		fc = *f
	}
	s.mu.Unlock()
	if f == nil {
		apiErr(w, http.StatusNotFound, "file "+name+" not found")
		return
	}
	size := fc.Size
	if fc.WrongSize != 0 {
		size = fc.WrongSize
	}
	writeJSON(w, map[string]any{
		"name": fc.Name, "mimeType": fc.MIMEType, "sizeBytes": strconv.FormatInt(size, 10),
		"state": "ACTIVE", "source": orDefault(fc.Source, "GENERATED"),
		"downloadUri": s.URL + "/" + apiVersion + "/" + fc.Name + ":download?alt=media",
	})
}

func (s *Server) download(w http.ResponseWriter, r *http.Request, name string) {
	if r.URL.Query().Get("alt") != "media" {
		apiErr(w, http.StatusBadRequest, "alt=media required")
		return
	}
	s.mu.Lock()
	f := s.file(name)
	var fc File
	cut := int64(0)
	if f != nil {
		s.downloads[name]++
		fc = *f
		if f.CutTimes > 0 && f.CutAfter > 0 {
			f.CutTimes--
			cut = f.CutAfter
		}
	}
	s.mu.Unlock()
	if f == nil {
		apiErr(w, http.StatusNotFound, "file "+name+" not found")
		return
	}
	w.Header().Set("Content-Type", fc.MIMEType)
	w.Header().Set("Content-Length", strconv.FormatInt(fc.Size, 10))
	w.WriteHeader(http.StatusOK)
	src := io.Reader(Content(fc))
	if cut > 0 {
		src = io.LimitReader(src, cut)
	}
	buf := make([]byte, 256<<10)
	if _, err := io.CopyBuffer(w, src, buf); err != nil {
		return
	}
	if cut > 0 {
		// Cut the connection mid-body: the client sees an unexpected EOF.
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		panic(http.ErrAbortHandler)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func apiErr(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg, "status": http.StatusText(code)}})
}

// Expected is what a correct landing of a file must produce, computed by
// the generator itself.
type Expected struct {
	Bytes          int64
	SHA256         string
	Lines          int64
	SucceededLines int64
	FailedLines    int64
}

// Expect generates f's content once and returns its numbers.
func Expect(f File) Expected {
	g := Content(f)
	h := sha256.New()
	n, _ := io.CopyBuffer(h, g, make([]byte, 256<<10))
	e := Expected{Bytes: n, SHA256: hex.EncodeToString(h.Sum(nil))}
	if isJSONL(f.MIMEType) {
		e.Lines, e.SucceededLines, e.FailedLines = g.lines, g.ok, g.failed
	}
	return e
}

// isJSONL: batch outputs; an unset type is one (AddFile defaults to it).
func isJSONL(mime string) bool { return mime == "" || strings.Contains(mime, "json") }

// Content returns a reader of f's bytes.
func Content(f File) *Generator {
	return &Generator{size: f.Size, seed: f.Seed, jsonl: isJSONL(f.MIMEType)}
}

// Generator produces a file's bytes on the fly. A JSON-lines file is a
// batch output: every seventh line is an "error" line, the others
// "response" lines, some with a nested "error" key or the word "error" in
// their text (which must not count as failures); the last line is padded so
// the file has exactly the requested size. Other files are pseudo-random
// bytes.
type Generator struct {
	size, seed, off int64
	jsonl           bool
	pending         []byte
	i               int64
	lines, ok       int64
	failed          int64
	x               uint64
}

func (g *Generator) Read(p []byte) (int, error) {
	if g.off >= g.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && g.off < g.size {
		if len(g.pending) == 0 {
			g.pending = g.next()
		}
		c := copy(p[n:], g.pending)
		g.pending = g.pending[c:]
		n += c
		g.off += int64(c)
	}
	return n, nil
}

func (g *Generator) next() []byte {
	left := g.size - g.off
	if !g.jsonl {
		if g.x == 0 {
			g.x = uint64(g.seed)*0x9E3779B97F4A7C15 + 1
		}
		b := make([]byte, min(left, 64<<10))
		for i := range b {
			g.x ^= g.x << 13
			g.x ^= g.x >> 7
			g.x ^= g.x << 17
			b[i] = byte(g.x)
		}
		return b
	}
	g.i++
	const lastSkeleton = `{"key":"last","response":{"text":""}}` + "\n"
	var line string
	failed := g.i%7 == 0
	if failed {
		line = fmt.Sprintf(`{"key":"req-%d","error":{"code":3,"message":"Invalid request %d"}}`, g.i, g.seed)
	} else {
		text := "Answer " + strconv.FormatInt(g.i, 10) + ` with \"error\": none, a {brace} and a [bracket]`
		extra := ""
		if g.i%5 == 0 {
			extra = `,"error":null` // nested: not a failed line
		}
		line = fmt.Sprintf(`{"key":"req-%d","response":{"candidates":[{"content":{"parts":[{"text":"%s"}],"role":"model"},"finishReason":"STOP"%s}],"usageMetadata":{"totalTokenCount":%d}}}`, g.i, text, extra, g.i%1000)
	}
	const pad = 2048 // len(padding): spaces before the closing brace, so lines are a realistic size
	if want := int64(len(line) + pad + 1); left < want+int64(len(lastSkeleton)) {
		// The last line fills exactly what is left.
		if left < int64(len(lastSkeleton)) {
			return []byte(strings.Repeat(" ", int(left))) // too small for a line
		}
		g.lines++
		g.ok++
		return []byte(`{"key":"last","response":{"text":"` + strings.Repeat("z", int(left)-len(lastSkeleton)) + `"}}` + "\n")
	}
	g.lines++
	if failed {
		g.failed++
	} else {
		g.ok++
	}
	return []byte(line[:len(line)-1] + padding + "}\n")
}

// padding is a line's pad, made once: the stand-in runs inside the
// benchmarks that measure landing, and its own garbage would count.
var padding = strings.Repeat(" ", 2048)

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
