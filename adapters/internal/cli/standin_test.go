package cli

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// webhookService is a loopback stand-in for Gemini's WebhookService REST API,
// speaking exactly the paths and JSON the genai SDK (v1.77.0,
// interactions/webhooks.go) sends:
//
//	POST   /{v}/webhooks                          create (returns new_signing_secret once)
//	GET    /{v}/webhooks?page_size&page_token     list
//	GET    /{v}/webhooks/{id}                     get
//	PATCH  /{v}/webhooks/{id}?update_mask=…       update
//	DELETE /{v}/webhooks/{id}                     delete
//	POST   /{v}/webhooks/{id}:ping                ping
//	POST   /{v}/webhooks/{id}:rotateSigningSecret rotate (returns secret once)
//
// Every request must carry x-goog-api-key; bodies are decoded strictly, so a
// misspelt field fails the test instead of passing silently.
type webhookService struct {
	t        testing.TB
	key      string
	srv      *httptest.Server
	pageSize int

	mu       sync.Mutex
	hooks    map[string]*fakeHook
	nextID   int
	calls    []string // "METHOD /path?query"
	keysSeen []string // x-goog-api-key of every request
	failNext map[string]int
	pings    map[string]int
}

type fakeHook struct {
	ID      string
	Name    string
	URI     string
	Events  []string
	State   string
	Secrets []fakeSecret // newest first
	Created time.Time
	Updated time.Time
}

type fakeSecret struct {
	value  string
	expire *time.Time
}

var sdkSubscribable = map[string]bool{
	"batch.succeeded": true, "batch.expired": true, "batch.failed": true,
	"interaction.requires_action": true, "interaction.completed": true,
	"interaction.failed": true, "video.generated": true,
}

func newWebhookService(t testing.TB) *webhookService {
	t.Helper()
	s := &webhookService{
		t: t, key: "test-api-key-" + randomToken(t, 6), pageSize: 2,
		hooks: map[string]*fakeHook{}, failNext: map[string]int{}, pings: map[string]int{},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// env is what points the CLI at the stand-in.
func (s *webhookService) env() map[string]string {
	return map[string]string{"GEMINI_API_KEY": s.key, "GOOGLE_GEMINI_BASE_URL": s.srv.URL}
}

func (s *webhookService) callCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

func (s *webhookService) callsMatching(prefix string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

// failOnce makes the next call of op ("create", "rotate", …) answer status.
func (s *webhookService) failOnce(op string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext[op] = status
}

// secrets returns the valid signing secrets of id, newest first (Gemini's copy).
func (s *webhookService) secrets(id string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.hooks[id]
	if h == nil {
		s.t.Fatalf("stand-in: no webhook %s", id)
	}
	var out []string
	for _, sec := range h.Secrets {
		out = append(out, sec.value)
	}
	return out
}

func (s *webhookService) hook(id string) fakeHook {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.hooks[id]
	if h == nil {
		s.t.Fatalf("stand-in: no webhook %s", id)
	}
	return *h
}

// onlyID returns the id of the one webhook that exists.
func (s *webhookService) onlyID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.hooks) != 1 {
		s.t.Fatalf("stand-in holds %d webhooks, want 1", len(s.hooks))
	}
	for id := range s.hooks {
		return id
	}
	return ""
}

// expirePrevious moves the 24 h overlap of id's older secrets into the past.
func (s *webhookService) expirePrevious(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	past := time.Now().Add(-time.Minute)
	for i := range s.hooks[id].Secrets {
		if s.hooks[id].Secrets[i].expire != nil {
			s.hooks[id].Secrets[i].expire = &past
		}
	}
}

type apiError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
	} `json:"error"`
}

func writeAPIError(w http.ResponseWriter, code int, status, msg string) {
	var e apiError
	e.Error.Code, e.Error.Status, e.Error.Message = code, status, msg
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(e)
}

func writeOK(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// decodeStrict reads a JSON body into v, refusing unknown fields.
func decodeStrict(r *http.Request, v any, optional bool) error {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r.Body); err != nil {
		return err
	}
	if buf.Len() == 0 {
		if optional {
			return nil
		}
		return fmt.Errorf("empty body")
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("content type %q", ct)
	}
	dec := json.NewDecoder(&buf)
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func (s *webhookService) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	call := r.Method + " " + r.URL.Path
	if r.URL.RawQuery != "" {
		call += "?" + r.URL.RawQuery
	}
	s.calls = append(s.calls, call)
	key := r.Header.Get("x-goog-api-key")
	s.keysSeen = append(s.keysSeen, key)
	if key != s.key {
		writeAPIError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "API key not valid")
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1beta/webhooks")
	if !ok {
		writeAPIError(w, http.StatusNotFound, "NOT_FOUND", "no such path "+r.URL.Path)
		return
	}
	var op, id string
	switch {
	case rest == "" && r.Method == http.MethodPost:
		op = "create"
	case rest == "" && r.Method == http.MethodGet:
		op = "list"
	case strings.HasPrefix(rest, "/") && !strings.Contains(rest[1:], "/"):
		seg := rest[1:]
		var verb string
		id, verb, _ = strings.Cut(seg, ":")
		switch {
		case verb == "" && r.Method == http.MethodGet:
			op = "get"
		case verb == "" && r.Method == http.MethodPatch:
			op = "update"
		case verb == "" && r.Method == http.MethodDelete:
			op = "delete"
		case verb == "ping" && r.Method == http.MethodPost:
			op = "ping"
		case verb == "rotateSigningSecret" && r.Method == http.MethodPost:
			op = "rotate"
		}
	}
	if op == "" {
		writeAPIError(w, http.StatusNotFound, "NOT_FOUND", "no route for "+call)
		return
	}
	if code, ok := s.failNext[op]; ok {
		delete(s.failNext, op)
		writeAPIError(w, code, "UNAVAILABLE", "injected failure")
		return
	}
	if op != "create" && op != "list" {
		if s.hooks[id] == nil {
			writeAPIError(w, http.StatusNotFound, "NOT_FOUND", "webhook "+id+" not found")
			return
		}
	}
	switch op {
	case "create":
		s.create(w, r)
	case "list":
		s.list(w, r)
	case "get":
		writeOK(w, s.render(s.hooks[id], false))
	case "update":
		s.update(w, r, s.hooks[id])
	case "delete":
		delete(s.hooks, id)
		writeOK(w, struct{}{})
	case "ping":
		var body struct{}
		if err := decodeStrict(r, &body, true); err != nil {
			writeAPIError(w, http.StatusBadRequest, "INVALID_ARGUMENT", err.Error())
			return
		}
		s.pings[id]++
		writeOK(w, struct{}{})
	case "rotate":
		s.rotate(w, r, s.hooks[id])
	}
}

func (s *webhookService) create(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name             *string  `json:"name"`
		SubscribedEvents []string `json:"subscribed_events"`
		URI              string   `json:"uri"`
	}
	if err := decodeStrict(r, &in, false); err != nil {
		writeAPIError(w, http.StatusBadRequest, "INVALID_ARGUMENT", err.Error())
		return
	}
	if in.URI == "" || len(in.SubscribedEvents) == 0 {
		writeAPIError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "uri and subscribed_events are required")
		return
	}
	for _, e := range in.SubscribedEvents {
		if !sdkSubscribable[e] {
			writeAPIError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "unknown event "+e)
			return
		}
	}
	s.nextID++
	now := time.Now().UTC()
	h := &fakeHook{
		ID: fmt.Sprintf("wh%04d", s.nextID), URI: in.URI, Events: in.SubscribedEvents,
		State: "enabled", Created: now, Updated: now,
		Secrets: []fakeSecret{{value: newSecret(s.t)}},
	}
	if in.Name != nil {
		h.Name = *in.Name
	}
	s.hooks[h.ID] = h
	writeOK(w, s.render(h, true))
}

func (s *webhookService) list(w http.ResponseWriter, r *http.Request) {
	size := s.pageSize
	if v := r.URL.Query().Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			writeAPIError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "bad page_size")
			return
		}
		size = n
	}
	ids := make([]string, 0, len(s.hooks))
	for id := range s.hooks {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	start := 0
	if tok := r.URL.Query().Get("page_token"); tok != "" {
		start = sort.SearchStrings(ids, tok)
	}
	out := map[string]any{}
	var page []map[string]any
	for i := start; i < len(ids) && i < start+size; i++ {
		page = append(page, s.render(s.hooks[ids[i]], false))
	}
	out["webhooks"] = page
	if start+size < len(ids) {
		out["next_page_token"] = ids[start+size]
	}
	writeOK(w, out)
}

func (s *webhookService) update(w http.ResponseWriter, r *http.Request, h *fakeHook) {
	var in struct {
		Name             *string  `json:"name"`
		State            *string  `json:"state"`
		SubscribedEvents []string `json:"subscribed_events"`
		URI              *string  `json:"uri"`
	}
	if err := decodeStrict(r, &in, false); err != nil {
		writeAPIError(w, http.StatusBadRequest, "INVALID_ARGUMENT", err.Error())
		return
	}
	mask := r.URL.Query().Get("update_mask")
	if mask == "" {
		writeAPIError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "update_mask required")
		return
	}
	for _, f := range strings.Split(mask, ",") {
		switch f {
		case "name":
			h.Name = deref(in.Name)
		case "uri":
			if in.URI == nil {
				writeAPIError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "uri in mask but not in body")
				return
			}
			h.URI = *in.URI
		case "subscribed_events":
			h.Events = in.SubscribedEvents
		case "state":
			if in.State == nil || (*in.State != "enabled" && *in.State != "disabled") {
				writeAPIError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "bad state")
				return
			}
			h.State = *in.State
		default:
			writeAPIError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "unknown mask field "+f)
			return
		}
	}
	h.Updated = time.Now().UTC()
	writeOK(w, s.render(h, false))
}

func (s *webhookService) rotate(w http.ResponseWriter, r *http.Request, h *fakeHook) {
	var in struct {
		RevocationBehavior string `json:"revocation_behavior"`
	}
	if err := decodeStrict(r, &in, false); err != nil {
		writeAPIError(w, http.StatusBadRequest, "INVALID_ARGUMENT", err.Error())
		return
	}
	var keep []fakeSecret
	switch in.RevocationBehavior {
	case "revoke_previous_secrets_after_h24":
		until := time.Now().Add(24 * time.Hour).UTC()
		for _, old := range h.Secrets {
			if old.expire == nil || old.expire.After(until) {
				old.expire = &until
			}
			if old.expire.After(time.Now()) {
				keep = append(keep, old)
			}
		}
	case "revoke_previous_secrets_immediately":
	default:
		writeAPIError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "bad revocation_behavior "+in.RevocationBehavior)
		return
	}
	secret := newSecret(s.t)
	h.Secrets = append([]fakeSecret{{value: secret}}, keep...)
	writeOK(w, map[string]string{"secret": secret})
}

// render is the Webhook resource; new_signing_secret only on create.
func (s *webhookService) render(h *fakeHook, withSecret bool) map[string]any {
	var secrets []map[string]any
	for _, sec := range h.Secrets {
		m := map[string]any{"truncated_secret": truncate(sec.value)}
		if sec.expire != nil {
			m["expire_time"] = sec.expire.Format(time.RFC3339Nano)
		}
		secrets = append(secrets, m)
	}
	out := map[string]any{
		"id": h.ID, "uri": h.URI, "subscribed_events": h.Events, "state": h.State,
		"signing_secrets": secrets,
		"create_time":     h.Created.Format(time.RFC3339Nano),
		"update_time":     h.Updated.Format(time.RFC3339Nano),
	}
	if h.Name != "" {
		out["name"] = h.Name
	}
	if withSecret {
		out["new_signing_secret"] = h.Secrets[0].value
	}
	return out
}

// truncate shows the last four characters, as a console would.
func truncate(secret string) string { return "whsec_…" + secret[len(secret)-4:] }

func newSecret(t testing.TB) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

func randomToken(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
