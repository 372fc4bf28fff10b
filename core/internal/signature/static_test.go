package signature

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/internal/delivery"
	"github.com/geminiwebhooks/receiver/core/internal/signature/sigtest"
)

// The shared test vector of the Standard Webhooks specification.
const (
	vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTS     = 1614265330
	vectorBody   = `{"test": 2432232314}`
	vectorSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func vectorHeaders() http.Header {
	h := http.Header{}
	h.Set(delivery.HeaderID, vectorID)
	h.Set(delivery.HeaderTimestamp, strconv.Itoa(vectorTS))
	h.Set(delivery.HeaderSignature, vectorSig)
	return h
}

func TestStaticSharedVector(t *testing.T) {
	v, err := NewStaticVerifier([]string{vectorSecret}, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(vectorTS, 0)
	d, err := v.Verify(context.Background(), vectorHeaders(), []byte(vectorBody), now)
	if err != nil {
		t.Fatalf("shared vector rejected: %v", err)
	}
	if d.ID != vectorID || d.Scheme != core.SchemeStatic || d.Timestamp.Unix() != vectorTS {
		t.Fatalf("delivery = %+v", d)
	}
	// The vector's signature is exactly what the library computes.
	if got := sigtest.Sign(t, vectorSecret, vectorID, now, []byte(vectorBody)); got != vectorSig {
		t.Fatalf("library signs %q, vector says %q", got, vectorSig)
	}
}

func TestStaticVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"type":"batch.succeeded","version":"v1","data":{"id":"batches/1"}}`)
	sigA := sigtest.Sign(t, sigtest.SecretA, "msg_1", now, body)
	sigB := sigtest.Sign(t, sigtest.SecretB, "msg_1", now, body)
	_, sigAOnly, _ := strings.Cut(sigA, ",")

	tests := []struct {
		name    string
		secrets []string
		mutate  func(h http.Header, body *[]byte)
		wantErr error
	}{
		{name: "valid", secrets: []string{sigtest.SecretA}},
		{name: "second of two secrets (rotation)", secrets: []string{sigtest.SecretB, sigtest.SecretA}},
		{name: "old secret still configured", secrets: []string{sigtest.SecretA, sigtest.SecretB}},
		{name: "one of several signatures matches", secrets: []string{sigtest.SecretA}, mutate: func(h http.Header, _ *[]byte) {
			h.Set(delivery.HeaderSignature, sigB+" "+sigA)
		}},
		{name: "unknown version skipped", secrets: []string{sigtest.SecretA}, mutate: func(h http.Header, _ *[]byte) {
			h.Set(delivery.HeaderSignature, "v1a,"+sigAOnly)
		}, wantErr: core.ErrBadSignature},
		{name: "unknown version beside valid v1", secrets: []string{sigtest.SecretA}, mutate: func(h http.Header, _ *[]byte) {
			h.Set(delivery.HeaderSignature, "v1a,AAAA "+sigA)
		}},
		{name: "lower-case header names", secrets: []string{sigtest.SecretA}, mutate: func(h http.Header, _ *[]byte) {
			for k, v := range h {
				delete(h, k)
				h[strings.ToLower(k)] = v
			}
		}},
		{name: "wrong secret", secrets: []string{sigtest.SecretB}, wantErr: core.ErrBadSignature},
		{name: "tampered body", secrets: []string{sigtest.SecretA}, mutate: func(_ http.Header, b *[]byte) {
			*b = append([]byte(nil), (*b)[:len(*b)-1]...)
			*b = append(*b, ' ', '}')
		}, wantErr: core.ErrBadSignature},
		{name: "other id", secrets: []string{sigtest.SecretA}, mutate: func(h http.Header, _ *[]byte) {
			h.Set(delivery.HeaderID, "msg_2")
		}, wantErr: core.ErrBadSignature},
		{name: "timestamp re-signed elsewhere", secrets: []string{sigtest.SecretA}, mutate: func(h http.Header, _ *[]byte) {
			h.Set(delivery.HeaderTimestamp, strconv.FormatInt(now.Unix()+1, 10))
		}, wantErr: core.ErrBadSignature},
		{name: "missing id", secrets: []string{sigtest.SecretA}, mutate: func(h http.Header, _ *[]byte) { h.Del(delivery.HeaderID) }, wantErr: core.ErrMissingHeaders},
		{name: "missing timestamp", secrets: []string{sigtest.SecretA}, mutate: func(h http.Header, _ *[]byte) { h.Del(delivery.HeaderTimestamp) }, wantErr: core.ErrMissingHeaders},
		{name: "timestamp not a number", secrets: []string{sigtest.SecretA}, mutate: func(h http.Header, _ *[]byte) {
			h.Set(delivery.HeaderTimestamp, "yesterday")
		}, wantErr: core.ErrMalformedHeaders},
		{name: "negative timestamp", secrets: []string{sigtest.SecretA}, mutate: func(h http.Header, _ *[]byte) {
			h.Set(delivery.HeaderTimestamp, "-5")
		}, wantErr: core.ErrMalformedHeaders},
		{name: "signature without version", secrets: []string{sigtest.SecretA}, mutate: func(h http.Header, _ *[]byte) {
			h.Set(delivery.HeaderSignature, sigAOnly)
		}, wantErr: core.ErrMalformedHeaders},
		{name: "id with control characters", secrets: []string{sigtest.SecretA}, mutate: func(h http.Header, _ *[]byte) {
			h.Set(delivery.HeaderID, "msg\x01")
		}, wantErr: core.ErrMalformedHeaders},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := NewStaticVerifier(tc.secrets, 0)
			if err != nil {
				t.Fatal(err)
			}
			h := http.Header{}
			h.Set(delivery.HeaderID, "msg_1")
			h.Set(delivery.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
			h.Set(delivery.HeaderSignature, sigA)
			b := append([]byte(nil), body...)
			if tc.mutate != nil {
				tc.mutate(h, &b)
			}
			_, err = v.Verify(context.Background(), h, b, now)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestStaticReplayWindow(t *testing.T) {
	signed := time.Unix(1_800_000_000, 0)
	body := []byte(`{}`)
	h := http.Header{}
	h.Set(delivery.HeaderID, "msg_w")
	h.Set(delivery.HeaderTimestamp, strconv.FormatInt(signed.Unix(), 10))
	h.Set(delivery.HeaderSignature, sigtest.Sign(t, sigtest.SecretA, "msg_w", signed, body))

	tests := []struct {
		tolerance time.Duration
		offset    time.Duration // now - signed
		ok        bool
	}{
		{0, 0, true},
		{0, 5 * time.Minute, true},
		{0, 5*time.Minute + time.Second, false},
		{0, -5 * time.Minute, true},
		{0, -5*time.Minute - time.Second, false},
		{time.Minute, 61 * time.Second, false}, // configurable below the library's fixed 5 min
		{time.Minute, 59 * time.Second, true},
		{10 * time.Minute, 9 * time.Minute, true}, // and above it
		{10 * time.Minute, -11 * time.Minute, false},
	}
	for _, tc := range tests {
		v, err := NewStaticVerifier([]string{sigtest.SecretA}, tc.tolerance)
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify(context.Background(), h, body, signed.Add(tc.offset))
		if tc.ok != (err == nil) {
			t.Errorf("tolerance %s offset %s: err = %v", tc.tolerance, tc.offset, err)
		}
		if !tc.ok && !errors.Is(err, core.ErrOutsideWindow) {
			t.Errorf("tolerance %s offset %s: err = %v, want core.ErrOutsideWindow", tc.tolerance, tc.offset, err)
		}
	}
}

func TestParseSecrets(t *testing.T) {
	tests := []struct {
		in      string
		n       int
		errHas  string
		leakArg string // must not appear in the error
	}{
		{in: sigtest.SecretA, n: 1},
		{in: sigtest.SecretA + "," + sigtest.SecretB, n: 2},
		{in: sigtest.SecretA + " " + sigtest.SecretB, n: 2},
		{in: " " + sigtest.SecretA + " ,\n" + sigtest.SecretB + " ", n: 2},
		{in: "", errHas: "none given"},
		{in: " , ", errHas: "none given"},
		{in: "whsec_", errHas: "secret 1 of 1: empty"},
		{in: sigtest.SecretA + ",MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", errHas: "secret 2 of 2: must start with", leakArg: "MfKQ9r8GKYqr"},
		{in: "whsec_not*base64!", errHas: "not valid padded base64", leakArg: "not*base64"},
		{in: "whsec_c2hvcnQ=", errHas: "decodes to 5 bytes", leakArg: "c2hvcnQ"},
		{in: "whsec_" + strings.Repeat("QUFB", 30), errHas: "decodes to 90 bytes"},
		{in: sigtest.SecretA + "," + sigtest.SecretB + ",whsec_c2hvcnQ=", errHas: "secret 3 of 3"},
	}
	for _, tc := range tests {
		got, err := ParseSecrets(tc.in)
		if tc.errHas == "" {
			if err != nil || len(got) != tc.n {
				t.Errorf("ParseSecrets(%q) = %d, %v", tc.in, len(got), err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.errHas) {
			t.Errorf("ParseSecrets(%q) err = %v, want it to say %q", tc.in, err, tc.errHas)
		}
		if tc.leakArg != "" && err != nil && strings.Contains(err.Error(), tc.leakArg) {
			t.Errorf("error %q prints the secret", err)
		}
	}
	// The library alone accepts an empty secret; our constructor must not.
	if _, err := NewStaticVerifier([]string{""}, 0); err == nil {
		t.Error("empty secret accepted")
	}
}

func TestDetectScheme(t *testing.T) {
	tests := []struct {
		header string
		want   core.Scheme
		err    error
	}{
		{vectorSig, core.SchemeStatic, nil},
		{vectorSig + " v1a,xyz", core.SchemeStatic, nil},
		{"eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4In0.c2ln", core.SchemeDynamic, nil},
		{"Bearer eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4In0.c2ln", core.SchemeDynamic, nil},
		{"eyJhbGciOiJub25lIn0.eyJhdWQiOiJ4In0.", core.SchemeDynamic, nil}, // alg none: rejected later, with a reason
		{"", "", core.ErrMissingHeaders},
		{"   ", "", core.ErrMissingHeaders},
		{"garbage", "", core.ErrMalformedHeaders},
		{"a.b", "", core.ErrMalformedHeaders},
		{"v1,not base64!", "", core.ErrMalformedHeaders},
		{"v 1,abc=", "", core.ErrMalformedHeaders},
	}
	for _, tc := range tests {
		got, err := DetectScheme(tc.header)
		if got != tc.want || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("DetectScheme(%q) = %q, %v; want %q, %v", tc.header, got, err, tc.want, tc.err)
		}
	}
}
