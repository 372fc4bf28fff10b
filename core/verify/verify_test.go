package verify_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/internal/delivery"
	"github.com/geminiwebhooks/receiver/core/verify"
	"github.com/geminiwebhooks/receiver/scripts/simulator/gemini"
)

const (
	audience = "https://example.com/webhook"
	issuer   = "https://generativelanguage.googleapis.com"
	envelope = `{"type":"batch.succeeded","version":"v1","data":{"id":"batches/b1","output_file_uri":"files/out"}}`
)

var (
	t0      = time.Unix(1_800_000_000, 0)
	secretA = gemini.NewSecret()
	secretB = gemini.NewSecret()
)

// One key (2048-bit RSA) and one local key set for every dynamic case.
var rig = sync.OnceValues(func() (*gemini.JWTSigner, string) {
	s, err := gemini.NewJWTSigner(audience, issuer)
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(s.JWKS()) }))
	// The server lives as long as the test binary.
	return s, srv.URL
})

func static(t *testing.T, secret, id string, at time.Time, body string) http.Header {
	t.Helper()
	h, err := gemini.SignStatic(secret, id, at, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func token(t *testing.T, claims map[string]any) string {
	t.Helper()
	s, _ := rig()
	tok, err := s.Token(claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// claims are a token's registered claims issued at iat, plus extra.
func claims(iat time.Time, extra map[string]any) map[string]any {
	c := map[string]any{"aud": audience, "iss": issuer, "iat": iat.Unix(), "exp": iat.Add(time.Hour).Unix()}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

func newVerifier(t *testing.T, cfg verify.Config) *verify.Verifier {
	t.Helper()
	_, url := rig()
	if cfg.Audience != "" {
		cfg.JWKSURL = url
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return t0 }
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	v, err := verify.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerify(t *testing.T) {
	both := verify.Config{Secrets: []string{secretA}, Audience: audience, Issuer: issuer}
	staticOnly := verify.Config{Secrets: []string{secretA}}
	dynamicOnly := verify.Config{Audience: audience}
	signer, _ := rig()
	bound := func(t *testing.T) http.Header {
		h, err := signer.Sign("msg_dyn", t0, []byte(envelope))
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	cases := []struct {
		name    string
		cfg     verify.Config
		header  func(t *testing.T) http.Header
		body    string
		want    error // nil: verified
		wantID  string
		hint    bool
		dynamic bool
	}{
		{name: "static", cfg: staticOnly, header: func(t *testing.T) http.Header { return static(t, secretA, "msg_1", t0, envelope) },
			wantID: "msg_1"},
		{name: "static, second of two secrets (rotation)", cfg: verify.Config{Secrets: []string{secretB, secretA}},
			header: func(t *testing.T) http.Header { return static(t, secretA, "msg_1", t0, envelope) }, wantID: "msg_1"},
		{name: "static, secrets as one comma-separated entry", cfg: verify.Config{Secrets: []string{secretB + "," + secretA}},
			header: func(t *testing.T) http.Header { return static(t, secretA, "msg_1", t0, envelope) }, wantID: "msg_1"},
		{name: "static, header lists old and new signatures", cfg: staticOnly,
			header: func(t *testing.T) http.Header { return static(t, secretB+" "+secretA, "msg_1", t0, envelope) }, wantID: "msg_1"},
		{name: "static, blank entries beside the secret", cfg: verify.Config{Secrets: []string{"", secretA, " "}},
			header: func(t *testing.T) http.Header { return static(t, secretA, "msg_1", t0, envelope) }, wantID: "msg_1"},
		{name: "dynamic, with an unset secret variable", cfg: verify.Config{Secrets: []string{""}, Audience: audience, Issuer: issuer},
			header: func(t *testing.T) http.Header {
				return http.Header{"Webhook-Signature": {token(t, claims(t0, map[string]any{"jti": "j1"}))}}
			}, wantID: "jwt:jti:j1", dynamic: true},
		{name: "static, lower-case header keys (Lambda)", cfg: staticOnly, header: func(t *testing.T) http.Header {
			h := static(t, secretA, "msg_1", t0, envelope)
			return http.Header{"webhook-id": h["Webhook-Id"], "webhook-timestamp": h["Webhook-Timestamp"], "webhook-signature": h["Webhook-Signature"]}
		}, wantID: "msg_1"},
		{name: "static, 4 minutes old", cfg: staticOnly, header: func(t *testing.T) http.Header { return static(t, secretA, "msg_1", t0.Add(-4*time.Minute), envelope) },
			wantID: "msg_1"},
		{name: "static, 6 minutes old within a 10 minute tolerance", cfg: verify.Config{Secrets: []string{secretA}, Tolerance: 10 * time.Minute},
			header: func(t *testing.T) http.Header { return static(t, secretA, "msg_1", t0.Add(-6*time.Minute), envelope) }, wantID: "msg_1"},
		{name: "static, 6 minutes old", cfg: staticOnly, header: func(t *testing.T) http.Header { return static(t, secretA, "msg_1", t0.Add(-6*time.Minute), envelope) },
			want: verify.ErrOutsideWindow},
		{name: "static, 6 minutes ahead", cfg: staticOnly, header: func(t *testing.T) http.Header { return static(t, secretA, "msg_1", t0.Add(6*time.Minute), envelope) },
			want: verify.ErrOutsideWindow},
		{name: "static, unknown secret", cfg: staticOnly, header: func(t *testing.T) http.Header { return static(t, secretB, "msg_1", t0, envelope) },
			want: verify.ErrBadSignature},
		{name: "static, body changed", cfg: staticOnly, header: func(t *testing.T) http.Header { return static(t, secretA, "msg_1", t0, envelope) },
			body: strings.Replace(envelope, "files/out", "files/evil", 1), want: verify.ErrBadSignature},
		{name: "static, id changed", cfg: staticOnly, header: func(t *testing.T) http.Header {
			h := static(t, secretA, "msg_1", t0, envelope)
			h.Set("webhook-id", "msg_2")
			return h
		}, want: verify.ErrBadSignature},
		{name: "static, no webhook-id", cfg: staticOnly, header: func(t *testing.T) http.Header {
			h := static(t, secretA, "msg_1", t0, envelope)
			h.Del("webhook-id")
			return h
		}, want: verify.ErrMissingHeaders},
		{name: "no headers", cfg: both, header: func(*testing.T) http.Header { return http.Header{} }, want: verify.ErrMissingHeaders},
		{name: "timestamp not unix seconds", cfg: staticOnly, header: func(t *testing.T) http.Header {
			h := static(t, secretA, "msg_1", t0, envelope)
			h.Set("webhook-timestamp", "2026-01-01T00:00:00Z")
			return h
		}, want: verify.ErrMalformedHeaders},
		{name: "signature without version", cfg: staticOnly, header: func(t *testing.T) http.Header {
			h := static(t, secretA, "msg_1", t0, envelope)
			h.Set("webhook-signature", "c2lnbmF0dXJl")
			return h
		}, want: verify.ErrMalformedHeaders},
		{name: "static delivery, static not configured", cfg: dynamicOnly,
			header: func(t *testing.T) http.Header { return static(t, secretA, "msg_1", t0, envelope) }, want: verify.ErrSchemeDisabled},

		{name: "dynamic, token binds the delivery", cfg: both, header: bound, wantID: "jwt:id:msg_dyn", dynamic: true},
		{name: "dynamic, token binds nothing: hint", cfg: both, header: func(t *testing.T) http.Header {
			return http.Header{"Webhook-Signature": {token(t, claims(t0, nil))}}
		}, want: verify.ErrHint, hint: true, dynamic: true},
		{name: "dynamic, token binds nothing, with an unsigned webhook-id: hint", cfg: both, header: func(t *testing.T) http.Header {
			return http.Header{"Webhook-Signature": {token(t, claims(t0, nil))}, "Webhook-Id": {"msg_x"}}
		}, want: verify.ErrHint, wantID: delivery.HintKeyPrefix + "id:msg_x", hint: true, dynamic: true},
		{name: "dynamic, token signs the event's data", cfg: both, header: func(t *testing.T) http.Header {
			return http.Header{"Webhook-Signature": {token(t, claims(t0, map[string]any{
				"type": "batch.succeeded", "data": map[string]any{"id": "batches/b1", "output_file_uri": "files/out"}}))}}
		}, dynamic: true},
		{name: "dynamic, body differs from the token's digest", cfg: both, header: bound,
			body: strings.Replace(envelope, "files/out", "files/evil", 1), want: verify.ErrClaimMismatch},
		{name: "dynamic, token's id differs from webhook-id", cfg: both, header: func(t *testing.T) http.Header {
			h := bound(t)
			h.Set("webhook-id", "msg_other")
			return h
		}, want: verify.ErrClaimMismatch},
		{name: "dynamic, wrong audience", cfg: both, header: func(t *testing.T) http.Header {
			c := claims(t0, map[string]any{"webhook_id": "m"})
			c["aud"] = "https://attacker.example"
			return http.Header{"Webhook-Signature": {token(t, c)}}
		}, want: verify.ErrBadSignature},
		{name: "dynamic, wrong issuer", cfg: both, header: func(t *testing.T) http.Header {
			c := claims(t0, map[string]any{"webhook_id": "m"})
			c["iss"] = "https://attacker.example"
			return http.Header{"Webhook-Signature": {token(t, c)}}
		}, want: verify.ErrBadSignature},
		{name: "dynamic, issued 10 minutes ago", cfg: both, header: func(t *testing.T) http.Header {
			return http.Header{"Webhook-Signature": {token(t, claims(t0.Add(-10*time.Minute), map[string]any{"webhook_id": "m"}))}}
		}, want: verify.ErrOutsideWindow},
		{name: "dynamic, expired", cfg: both, header: func(t *testing.T) http.Header {
			c := claims(t0, map[string]any{"webhook_id": "m"})
			c["exp"] = t0.Add(-time.Minute).Unix()
			return http.Header{"Webhook-Signature": {token(t, c)}}
		}, want: verify.ErrBadSignature},
		{name: "dynamic, token not signed by the key set", cfg: both, header: func(t *testing.T) http.Header {
			other, err := gemini.NewJWTSigner(audience, issuer)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := other.Token(claims(t0, map[string]any{"webhook_id": "m"}))
			if err != nil {
				t.Fatal(err)
			}
			return http.Header{"Webhook-Signature": {tok}}
		}, want: verify.ErrBadSignature},
		{name: "dynamic delivery, dynamic not configured", cfg: staticOnly, header: bound, want: verify.ErrSchemeDisabled},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerifier(t, tc.cfg)
			body := tc.body
			if body == "" {
				body = envelope
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			d, err := v.Verify(ctx, tc.header(t), []byte(body))
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("Verify: %v, want %v", err, tc.want)
			}
			if d.Hint() != tc.hint {
				t.Errorf("Hint() = %v, want %v", d.Hint(), tc.hint)
			}
			verified := tc.want == nil || errors.Is(tc.want, verify.ErrHint)
			if !verified && d.ID != "" {
				t.Errorf("rejected delivery has ID %q", d.ID)
			}
			if verified {
				wantScheme := core.SchemeStatic
				if tc.dynamic {
					wantScheme = core.SchemeDynamic
				}
				if d.Scheme != wantScheme || d.ID == "" || (tc.wantID != "" && d.ID != tc.wantID) {
					t.Errorf("delivery = %+v, want scheme %s, ID %q", d, wantScheme, tc.wantID)
				}
			}

			// Event and Request agree with Verify and hand back the parsed event.
			ev, err := v.Event(ctx, tc.header(t), []byte(body))
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("Event: %v, want %v", err, tc.want)
			}
			if verified && (ev == nil || ev.Type != core.BatchSucceeded || ev.JobID() != "batches/b1" || ev.Delivery.Hint() != tc.hint || string(ev.Raw) != body) {
				t.Fatalf("Event = %+v", ev)
			}
			if !verified && ev != nil {
				t.Fatalf("Event returned %+v with %v", ev, err)
			}
			req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/hook", strings.NewReader(body))
			req.Header = tc.header(t)
			ev, err = v.Request(req)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) || verified != (ev != nil) {
				t.Fatalf("Request: %v, %v; want %v", ev, err, tc.want)
			}
		})
	}
}

// A verified body that is not an event, and a body over the cap, fail
// with their own sentinels; neither returns an event.
func TestEventErrors(t *testing.T) {
	v := newVerifier(t, verify.Config{Secrets: []string{secretA}, MaxBodyBytes: 200})
	ctx := context.Background()
	notEvent := `{"test": 2432232314}`
	if _, err := v.Verify(ctx, static(t, secretA, "m", t0, notEvent), []byte(notEvent)); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if ev, err := v.Event(ctx, static(t, secretA, "m", t0, notEvent), []byte(notEvent)); !errors.Is(err, verify.ErrNotUnderstood) || ev != nil {
		t.Fatalf("Event = %v, %v; want ErrNotUnderstood", ev, err)
	}
	big := `{"type":"batch.succeeded","data":{"id":"batches/` + strings.Repeat("x", 200) + `"}}`
	for _, announced := range []bool{true, false} {
		req := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(big))
		if !announced {
			req.ContentLength = -1
		}
		req.Header = static(t, secretA, "m", t0, big)
		if ev, err := v.Request(req); !errors.Is(err, verify.ErrBodyTooLarge) || ev != nil {
			t.Fatalf("Request(announced=%v) = %v, %v; want ErrBodyTooLarge", announced, ev, err)
		}
	}
}

// The zero Verifier and a nil one verify nothing, whatever is sent.
func TestZeroVerifierRefusesEverything(t *testing.T) {
	signer, _ := rig()
	dyn, err := signer.Sign("msg_dyn", time.Now(), []byte(envelope))
	if err != nil {
		t.Fatal(err)
	}
	headers := map[string]http.Header{
		"static":  static(t, secretA, "msg_1", time.Now(), envelope),
		"dynamic": dyn,
	}
	for _, v := range []*verify.Verifier{{}, nil} {
		for name, h := range headers {
			d, err := v.Verify(context.Background(), h, []byte(envelope))
			if !errors.Is(err, verify.ErrSchemeDisabled) || d.ID != "" {
				t.Errorf("%s: Verify = %+v, %v; want ErrSchemeDisabled", name, d, err)
			}
			req := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(envelope))
			req.Header = h
			if ev, err := v.Request(req); !errors.Is(err, verify.ErrSchemeDisabled) || ev != nil {
				t.Errorf("%s: Request = %v, %v; want ErrSchemeDisabled", name, ev, err)
			}
		}
		if _, err := v.Verify(context.Background(), http.Header{}, nil); !errors.Is(err, verify.ErrMissingHeaders) {
			t.Errorf("no headers: %v, want ErrMissingHeaders", err)
		}
	}
}

// Configuration mistakes are refused by New, naming the secret's position
// and never its value.
func TestNewRefusesBadConfig(t *testing.T) {
	short := "whsec_" + "c2hvcnQ="
	cases := []struct {
		name string
		cfg  verify.Config
		want string
		is   error
	}{
		{name: "nothing configured", cfg: verify.Config{Tolerance: time.Minute}, is: verify.ErrNoScheme},
		{name: "secret without prefix", cfg: verify.Config{Secrets: []string{secretA, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}, want: "signing secret 2 of 2"},
		{name: "secret too short", cfg: verify.Config{Secrets: []string{short}}, want: "signing secret 1 of 1"},
		{name: "blank entries only (an unset variable)", cfg: verify.Config{Secrets: []string{"", " , "}}, is: verify.ErrNoScheme},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := verify.New(context.Background(), tc.cfg)
			if err == nil || v != nil {
				t.Fatalf("New = %v, %v; want an error", v, err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("New: %v, want %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %q, want it to say %q", err, tc.want)
			}
			for _, s := range tc.cfg.Secrets {
				if len(s) > 8 && strings.Contains(err.Error(), s[6:]) {
					t.Fatalf("error %q shows a secret", err)
				}
			}
		})
	}
}

// One Verifier serves many goroutines at once, both schemes, the key set
// still loading when they start (go test -race checks the sharing).
func TestConcurrentUse(t *testing.T) {
	v := newVerifier(t, verify.Config{Secrets: []string{secretA}, Audience: audience, Issuer: issuer})
	signer, _ := rig()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := "msg_" + strings.Repeat("x", i%7+1)
			h, err := gemini.SignStatic(secretA, id, t0, []byte(envelope))
			if i%2 == 1 {
				h, err = signer.Sign(id, t0, []byte(envelope))
			}
			if err != nil {
				errs <- err
				return
			}
			ev, err := v.Event(context.Background(), h, []byte(envelope))
			if err != nil || ev.Delivery.Hint() || !strings.HasSuffix(ev.Delivery.ID, id) {
				errs <- fmt.Errorf("goroutine %d: %v, %v", i, ev, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
