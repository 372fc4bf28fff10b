package core_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	. "github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/internal/delivery"
	"github.com/geminiwebhooks/receiver/core/internal/signature"
	"github.com/geminiwebhooks/receiver/core/internal/signature/sigtest"

	"github.com/golang-jwt/jwt/v5"
)

// dynFixture is the handler fixture with both schemes on.
func dynFixture(t *testing.T) *fixture {
	t.Helper()
	srv := sigtest.NewJWKSServer(t, map[string]*rsa.PublicKey{"k1": &googleKey.PublicKey})
	dv := newTestDynamic(t, srv, 0, "")
	return newFixture(t, func(o *ReceiverOptions) {
		sv, err := signature.NewStaticVerifier([]string{sigtest.SecretA}, 0)
		if err != nil {
			t.Fatal(err)
		}
		o.Verifier = signature.SchemeVerifier{Static: sv, Dynamic: dv}
	})
}

func (f *fixture) dynamic(token, body, headerID string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	r.Header.Set(delivery.HeaderSignature, token)
	if headerID != "" {
		r.Header.Set(delivery.HeaderID, headerID)
	}
	return r
}

// Gemini documents no delivery-id or digest claim: such a token is bound by
// its own hash. Claims like these are what the attack of issue 13 replayed.
func bareClaims(f *fixture) jwt.MapClaims {
	return jwt.MapClaims{"aud": sigtest.Audience, "iat": f.now.Unix(), "exp": f.now.Add(10 * 60e9).Unix()}
}

const forgedBody = `{"type":"batch.failed","version":"v1","data":{"id":"batches/123","error_code":3}}`

// Issue 13, finding 1: a dynamic token is bound to its delivery. Each step is
// one request in order; the old code processed every replay with a new body
// (or a new unsigned webhook-id) and let a token take a static delivery's id.
func TestDynamicTokenBoundToDelivery(t *testing.T) {
	type step struct {
		req     func(t *testing.T, f *fixture) *http.Request
		status  int
		outcome Outcome
	}
	bare := func(t *testing.T, f *fixture) string {
		return sigtest.SignToken(t, jwt.SigningMethodRS256, googleKey, "k1", bareClaims(f))
	}
	withEvent := func(t *testing.T, f *fixture, put func(jwt.MapClaims)) string {
		c := bareClaims(f)
		put(c)
		return sigtest.SignToken(t, jwt.SigningMethodRS256, googleKey, "k1", c)
	}
	okData := map[string]any{"id": "batches/123", "output_file_uri": "files/out-123"}
	tests := []struct {
		name      string
		steps     []step
		processed int64
		hints     int64 // of the processed, deliveries whose token binds nothing
	}{
		{name: "replayed token, same body: duplicate", processed: 1, hints: 1, steps: []step{
			{func(t *testing.T, f *fixture) *http.Request { return f.dynamic(bare(t, f), okBody, "") }, 200, OutcomeProcessed},
			{func(t *testing.T, f *fixture) *http.Request { return f.dynamic(bare(t, f), okBody, "") }, 200, OutcomeDuplicate},
		}},
		// Issue 21: a token that binds nothing may be reused, or two equal
		// tokens may carry two events; each body is then a delivery of its
		// own, a hint the built-in actions confirm with the Gemini API
		// (core/jobs). Issue 13 answered 409 here, losing the second event.
		{name: "replayed token, new body: a second delivery, a hint", processed: 2, hints: 2, steps: []step{
			{func(t *testing.T, f *fixture) *http.Request { return f.dynamic(bare(t, f), okBody, "") }, 200, OutcomeProcessed},
			{func(t *testing.T, f *fixture) *http.Request { return f.dynamic(bare(t, f), forgedBody, "") }, 200, OutcomeProcessed},
			{func(t *testing.T, f *fixture) *http.Request { return f.dynamic(bare(t, f), forgedBody, "") }, 200, OutcomeDuplicate},
		}},
		{name: "replayed token, same unsigned webhook-id with a new body: conflict", processed: 2, hints: 2, steps: []step{
			{func(t *testing.T, f *fixture) *http.Request { return f.dynamic(bare(t, f), okBody, "msg_first") }, 200, OutcomeProcessed},
			{func(t *testing.T, f *fixture) *http.Request { return f.dynamic(bare(t, f), forgedBody, "msg_forged") }, 200, OutcomeProcessed},
			{func(t *testing.T, f *fixture) *http.Request { return f.dynamic(bare(t, f), forgedBody, "msg_first") }, 409, OutcomeConflict},
			{func(t *testing.T, f *fixture) *http.Request { return f.dynamic(bare(t, f), okBody, "msg_first") }, 200, OutcomeDuplicate},
		}},
		{name: "token with a static delivery's id does not take it", processed: 2, hints: 1, steps: []step{
			{func(t *testing.T, f *fixture) *http.Request { return f.dynamic(bare(t, f), forgedBody, "msg_static") }, 200, OutcomeProcessed},
			{func(t *testing.T, f *fixture) *http.Request { return f.signed(t, "msg_static", okBody) }, 200, OutcomeProcessed},
		}},
		{name: "static id spelled like a dynamic key does not collide", processed: 2, steps: []step{
			{func(t *testing.T, f *fixture) *http.Request {
				tok := withEvent(t, f, func(c jwt.MapClaims) { c["jti"] = "j1" })
				return f.dynamic(tok, okBody, "")
			}, 200, OutcomeProcessed},
			{func(t *testing.T, f *fixture) *http.Request { return f.signed(t, "jwt:jti:j1", forgedBody) }, 200, OutcomeProcessed},
		}},
		{name: "jti names the delivery across tokens", processed: 1, steps: []step{
			{func(t *testing.T, f *fixture) *http.Request {
				return f.dynamic(withEvent(t, f, func(c jwt.MapClaims) { c["jti"] = "j2" }), okBody, "")
			}, 200, OutcomeProcessed},
			{func(t *testing.T, f *fixture) *http.Request {
				return f.dynamic(withEvent(t, f, func(c jwt.MapClaims) { c["jti"] = "j2"; c["exp"] = f.now.Add(9 * 60e9).Unix() }), forgedBody, "")
			}, 409, OutcomeConflict},
		}},
		{name: "token carrying the event: the body must match it", processed: 1, steps: []step{
			{func(t *testing.T, f *fixture) *http.Request {
				tok := withEvent(t, f, func(c jwt.MapClaims) { c["type"] = "batch.succeeded"; c["data"] = okData })
				return f.dynamic(tok, forgedBody, "")
			}, 401, OutcomeRejected},
			{func(t *testing.T, f *fixture) *http.Request {
				tok := withEvent(t, f, func(c jwt.MapClaims) { c["type"] = "batch.succeeded"; c["data"] = okData })
				return f.dynamic(tok, okBody, "")
			}, 200, OutcomeProcessed},
		}},
		{name: "token carrying the event under payload: same data, other id refused", processed: 0, steps: []step{
			{func(t *testing.T, f *fixture) *http.Request {
				tok := withEvent(t, f, func(c jwt.MapClaims) {
					c["payload"] = map[string]any{"type": "batch.succeeded", "data": map[string]any{"id": "batches/999"}}
				})
				return f.dynamic(tok, okBody, "")
			}, 401, OutcomeRejected},
		}},
		{name: "token carrying an event, body not JSON", processed: 0, steps: []step{
			{func(t *testing.T, f *fixture) *http.Request {
				return f.dynamic(withEvent(t, f, func(c jwt.MapClaims) { c["type"] = "batch.succeeded" }), "not json", "")
			}, 401, OutcomeRejected},
		}},
		// Finding 9: RFC 7515 §4.1.11.
		{name: "crit header refused", processed: 0, steps: []step{
			{func(t *testing.T, f *fixture) *http.Request {
				tok := jwt.NewWithClaims(jwt.SigningMethodRS256, bareClaims(f))
				tok.Header["kid"] = "k1"
				tok.Header["crit"] = []string{"exp"}
				s, err := tok.SignedString(googleKey)
				if err != nil {
					t.Fatal(err)
				}
				return f.dynamic(s, okBody, "")
			}, 401, OutcomeRejected},
		}},
		// The same signature spelled with other unused base64 bits would be a
		// second key for one token: strict decoding refuses it.
		{name: "non-canonical signature encoding refused", processed: 1, hints: 1, steps: []step{
			{func(t *testing.T, f *fixture) *http.Request { return f.dynamic(bare(t, f), okBody, "") }, 200, OutcomeProcessed},
			{func(t *testing.T, f *fixture) *http.Request { return f.dynamic(respell(t, bare(t, f)), forgedBody, "") }, 401, OutcomeRejected},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := dynFixture(t)
			var hints atomic.Int64
			f.process = func(_ context.Context, ev *Event) error {
				if ev.Delivery.Hint() {
					hints.Add(1)
				}
				return nil
			}
			for i, s := range tc.steps {
				w, body := f.do(s.req(t, f))
				if w.Code != s.status || body["outcome"] != string(s.outcome) {
					t.Fatalf("step %d: %d %v, want %d %s (%s)", i+1, w.Code, body["outcome"], s.status, s.outcome, w.Body)
				}
			}
			if got, h := f.processed.Load(), hints.Load(); got != tc.processed || h != tc.hints {
				t.Fatalf("processed %d times (%d hints), want %d (%d)", got, h, tc.processed, tc.hints)
			}
		})
	}
}

// respell changes the unused low bits of the signature's last base64
// character: lax decoders read the same bytes, strict ones refuse it.
func respell(t *testing.T, tok string) string {
	t.Helper()
	last := tok[len(tok)-1]
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, last)
	// 256 signature bytes leave 4 unused bits in the last of 342 characters.
	out := tok[:len(tok)-1] + string(alphabet[i^1])
	a, _ := base64.RawURLEncoding.DecodeString(tok[strings.LastIndexByte(tok, '.')+1:])
	b, _ := base64.RawURLEncoding.DecodeString(out[strings.LastIndexByte(out, '.')+1:])
	if string(a) != string(b) {
		t.Fatal("respelling changed the signature bytes")
	}
	return out
}

// Issue 13, finding 8: an unverified webhook-id is neither echoed nor logged in full.
func TestUnverifiedIDNotEchoed(t *testing.T) {
	tests := []struct {
		name, id string
		wantLog  string
	}{
		{"huge", strings.Repeat("A", 1<<20), strings.Repeat("A", 64) + "...(1048576 bytes)"},
		{"control and bidi", "msg_\x1b[31m\u202Egnp.exe", `msg_\x1b[31m\xe2\x80\xaegnp.exe`},
		{"plain", "msg_plain", "msg_plain"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(o *ReceiverOptions) { o.MaxBodyBytes = 4096 })
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(okBody))
			r.Header[delivery.HeaderID] = []string{tc.id}
			r.Header.Set(delivery.HeaderTimestamp, "1800000000")
			r.Header.Set(delivery.HeaderSignature, "v1,AAAA")
			w, body := f.do(r)
			if w.Code != 400 && w.Code != 401 {
				t.Fatalf("status %d", w.Code)
			}
			if _, ok := body["webhook_id"]; ok || w.Body.Len() > 512 {
				t.Fatalf("answer echoes the unverified id (%d bytes): %.200s", w.Body.Len(), w.Body)
			}
			line := f.lastLog(t)
			if line["webhook_id"] != tc.wantLog || line["webhook_id_unverified"] != true {
				t.Fatalf("logged webhook_id %.100q, want %q", line["webhook_id"], tc.wantLog)
			}
		})
	}
}

// readSizes is a body that announces much and sends little, recording the
// size of every buffer the handler offers it.
type readSizes struct {
	data    []byte
	maxRead int
}

func (r *readSizes) Read(p []byte) (int, error) {
	r.maxRead = max(r.maxRead, len(p))
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// Issue 13, finding 2: the body buffer grows with what arrives. The old code
// allocated the announced Content-Length (the cap) before a byte arrived, so
// 1,000 slow requests announcing 1 MiB held 1 GB.
func TestBodyBufferGrowsWithArrival(t *testing.T) {
	tests := []struct {
		name      string
		announced int64
		sent      int
	}{
		{"announces the cap, sends 128 bytes", DefaultMaxBodyBytes, 128},
		{"announces the cap, sends 20 KiB", DefaultMaxBodyBytes, 20 << 10},
		{"unknown length", -1, 128},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(o *ReceiverOptions) { o.MaxBodyBytes = DefaultMaxBodyBytes })
			body := &readSizes{data: bytes.Repeat([]byte("x"), tc.sent)}
			resp := f.h.Handle(context.Background(), Request{Method: http.MethodPost, Header: http.Header{}, Body: body, ContentLength: tc.announced})
			if resp.Status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400 (no headers)", resp.Status)
			}
			// bytes.Buffer at most doubles what it holds; allow that and the head start.
			if limit := max(2*tc.sent+bytes.MinRead, InitialBodyBuffer) + bytes.MinRead; body.maxRead > limit {
				t.Fatalf("a read offered %d bytes for a body of %d (announced %d); want at most %d", body.maxRead, tc.sent, tc.announced, limit)
			}
		})
	}
}

// A body whose length is announced is read into one buffer of that length
// and a spare byte: never grown, never copied (bytes.Buffer.ReadFrom, used
// before, doubled it to keep 512 bytes free, so every body was copied once).
func TestBodyReadIntoOneBuffer(t *testing.T) {
	for _, n := range []int{1, 700, InitialBodyBuffer - 1} {
		body := bytes.Repeat([]byte("x"), n)
		got, err := ReadBody(&readSizes{data: body}, int64(n), DefaultMaxBodyBytes)
		if err != nil || !bytes.Equal(got, body) || cap(got) != n+1 {
			t.Errorf("%d bytes: read %d into a buffer of %d, %v; want one buffer of %d", n, len(got), cap(got), err, n+1)
		}
	}
	// Longer than announced (or unannounced): it grows as the bytes come.
	body := bytes.Repeat([]byte("y"), 3*InitialBodyBuffer)
	if got, err := ReadBody(&readSizes{data: body}, 10, DefaultMaxBodyBytes); err != nil || !bytes.Equal(got, body) {
		t.Errorf("a body longer than announced: %d bytes, %v", len(got), err)
	}
}
