package core_test

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/internal/delivery"
	"github.com/geminiwebhooks/receiver/core/internal/signature"
	"github.com/geminiwebhooks/receiver/core/internal/signature/sigtest"

	"github.com/golang-jwt/jwt/v5"
)

// body1KiB is a realistic thin payload padded with user_metadata to 1 KiB.
func body1KiB() []byte {
	head := `{"type":"batch.succeeded","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"batches/123456","output_file_uri":"files/batch-123456-output"},"user_metadata":{"job_group":"nightly-eval","note":"`
	tail := `"}}`
	return []byte(head + strings.Repeat("x", 1024-len(head)-len(tail)) + tail)
}

// BenchmarkHMACFloor is the least any static verifier must do: one
// HMAC-SHA256 over id.timestamp.body, base64, constant-time compare.
func BenchmarkHMACFloor(b *testing.B) {
	body := body1KiB()
	key, _ := signature.DecodeSecret(sigtest.SecretA)
	now := time.Unix(1_800_000_000, 0)
	want := sigtest.Sign(b, sigtest.SecretA, "msg_bench", now, body)[3:]
	ts := strconv.FormatInt(now.Unix(), 10)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		m := hmac.New(sha256.New, key)
		m.Write([]byte("msg_bench"))
		m.Write([]byte{'.'})
		m.Write([]byte(ts))
		m.Write([]byte{'.'})
		m.Write(body)
		var sum [32]byte
		var enc [44]byte
		base64.StdEncoding.Encode(enc[:], m.Sum(sum[:0]))
		if !hmac.Equal(enc[:], []byte(want)) {
			b.Fatal("mismatch")
		}
	}
}

func staticBenchInput(b *testing.B) (*signature.StaticVerifier, http.Header, []byte, time.Time) {
	body := body1KiB()
	now := time.Unix(1_800_000_000, 0)
	v, err := signature.NewStaticVerifier([]string{sigtest.SecretA}, 0)
	if err != nil {
		b.Fatal(err)
	}
	h := http.Header{}
	h.Set(delivery.HeaderID, "msg_bench")
	h.Set(delivery.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	h.Set(delivery.HeaderSignature, sigtest.Sign(b, sigtest.SecretA, "msg_bench", now, body))
	return v, h, body, now
}

// BenchmarkStaticVerifyParse is the static path: verify, then parse the envelope.
func BenchmarkStaticVerifyParse(b *testing.B) {
	v, h, body, now := staticBenchInput(b)
	ctx := context.Background()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, h, body, now); err != nil {
			b.Fatal(err)
		}
		if _, err := ParseEvent(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStaticVerify(b *testing.B) {
	v, h, body, now := staticBenchInput(b)
	ctx := context.Background()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, h, body, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseEvent(b *testing.B) {
	body := body1KiB()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseEvent(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRSAFloor is the least a dynamic verifier must do: one RS256 check.
func BenchmarkRSAFloor(b *testing.B) {
	now := time.Now()
	tok := sigtest.SignToken(b, jwt.SigningMethodRS256, googleKey, "k1", sigtest.BaseClaims(now, body1KiB()))
	i := strings.LastIndexByte(tok, '.')
	sig, _ := base64.RawURLEncoding.DecodeString(tok[i+1:])
	b.ReportAllocs()
	for b.Loop() {
		sum := sha256.Sum256([]byte(tok[:i]))
		if err := rsa.VerifyPKCS1v15(&googleKey.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDynamicVerify is the whole token check with the key set in memory.
func BenchmarkDynamicVerify(b *testing.B) {
	srv := sigtest.NewJWKSServer(b, map[string]*rsa.PublicKey{"k1": &googleKey.PublicKey})
	v := newTestDynamic(b, srv, time.Hour, "")
	now := time.Now()
	body := body1KiB()
	h := dynHeaders(sigtest.SignToken(b, jwt.SigningMethodRS256, googleKey, "k1", sigtest.BaseClaims(now, body)))
	ctx := context.Background()
	if _, err := v.Verify(ctx, h, body, now); err != nil { // loads the key set
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, h, body, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHandler is the whole pipeline on the memory store: verify, parse,
// claim, process (no-op), complete, JSON log line, response.
func BenchmarkHandler(b *testing.B) {
	sv, err := signature.NewStaticVerifier([]string{sigtest.SecretA}, 0)
	if err != nil {
		b.Fatal(err)
	}
	h, err := NewReceiver(ReceiverOptions{
		Verifier:  signature.SchemeVerifier{Static: sv},
		Store:     NewMemoryStore(0),
		Processor: NewMux(),
		Logger:    slog.New(slog.NewJSONHandler(io.Discard, nil)),
		TTL:       time.Millisecond, // keys expire at once so the store stays small
	})
	if err != nil {
		b.Fatal(err)
	}
	body := body1KiB()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		now := time.Now()
		id := fmt.Sprint("msg_", i)
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
		r.Header.Set(delivery.HeaderID, id)
		r.Header.Set(delivery.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
		r.Header.Set(delivery.HeaderSignature, sigtest.Sign(b, sigtest.SecretA, id, now, body))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
