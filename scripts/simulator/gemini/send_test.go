package gemini_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/scripts/simulator/gemini"
)

// attemptLog records what the receiver saw on each attempt.
type attemptLog struct {
	mu       sync.Mutex
	ids      []string
	stamps   []string
	sigs     []string
	bodies   [][]byte
	statuses []int // answers, in order; the last one repeats
}

func (l *attemptLog) handler(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	l.mu.Lock()
	n := len(l.ids)
	l.ids = append(l.ids, r.Header.Get(gemini.HeaderID))
	l.stamps = append(l.stamps, r.Header.Get(gemini.HeaderTimestamp))
	l.sigs = append(l.sigs, r.Header.Get(gemini.HeaderSignature))
	l.bodies = append(l.bodies, b)
	status := l.statuses[min(n, len(l.statuses)-1)]
	l.mu.Unlock()
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"outcome":"o` + strconv.Itoa(status) + `","reason":"r"}`))
}

func TestSenderRetries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		statuses []int
		final    []int
		attempts int
		status   int
		backoffs []time.Duration // with InitialBackoff 1s, MaxBackoff 3s
	}{
		{"2xx at once", []int{200}, nil, 1, 200, nil},
		{"503 twice then 202", []int{503, 503, 202}, nil, 3, 202, []time.Duration{time.Second, 2 * time.Second}},
		{"4xx retried like Gemini", []int{401}, nil, 4, 401, []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}},
		{"expected 401 ends retries", []int{401}, []int{401}, 1, 401, nil},
		{"409 retried until 200", []int{409, 200}, []int{401}, 2, 200, []time.Duration{time.Second}},
		{"500 until attempts run out", []int{500}, []int{401}, 4, 500, []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := &attemptLog{statuses: tc.statuses}
			srv := httptest.NewServer(http.HandlerFunc(log.handler))
			defer srv.Close()

			clock := time.Unix(1_700_000_000, 0)
			var slept []time.Duration
			s := &gemini.Sender{
				Signer:         gemini.StaticSigner{Secret: secretA},
				MaxAttempts:    4,
				InitialBackoff: time.Second,
				MaxBackoff:     3 * time.Second,
				Now:            func() time.Time { return clock },
				Sleep: func(_ context.Context, d time.Duration) error {
					slept = append(slept, d)
					clock = clock.Add(d)
					return nil
				},
			}
			d := gemini.Delivery{ID: gemini.NewID(), Body: gemini.Payload("batch.failed"), Final: tc.final}
			r := s.Send(context.Background(), srv.URL, d)

			if r.Attempts != tc.attempts || r.Status != tc.status || r.Err != nil {
				t.Fatalf("result %+v, want %d attempts ending %d", r, tc.attempts, tc.status)
			}
			if r.Outcome != "o"+strconv.Itoa(tc.status) || r.Reason != "r" {
				t.Fatalf("outcome %q reason %q not read from the answer", r.Outcome, r.Reason)
			}
			if !slices.Equal(slept, tc.backoffs) {
				t.Fatalf("backoffs %v, want %v", slept, tc.backoffs)
			}
			if len(log.ids) != tc.attempts {
				t.Fatalf("receiver saw %d attempts, want %d", len(log.ids), tc.attempts)
			}
			for i := range log.ids {
				// Gemini keeps the id and body, and signs each attempt anew.
				if log.ids[i] != d.ID || !bytes.Equal(log.bodies[i], d.Body) {
					t.Fatalf("attempt %d changed the id or body", i+1)
				}
				if i > 0 && (log.stamps[i] == log.stamps[i-1] || log.sigs[i] == log.sigs[i-1]) {
					t.Fatalf("attempt %d reused the timestamp or signature of the one before", i+1)
				}
			}
		})
	}
}

// A receiver that does not answer within Timeout counts as a failed attempt.
func TestSenderTimeoutIsRetried(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		_, _ = io.ReadAll(r.Body) // after the body, net/http notices the client hanging up
		if n == 1 {
			select { // hang until the sender gives up
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	s := &gemini.Sender{
		Signer: gemini.StaticSigner{Secret: secretA}, MaxAttempts: 2, Timeout: 200 * time.Millisecond,
		Sleep: func(context.Context, time.Duration) error { return nil },
	}
	r := s.Send(context.Background(), srv.URL, gemini.Delivery{ID: gemini.NewID(), Body: []byte(`{}`)})
	if r.Attempts != 2 || r.Status != http.StatusOK || r.Err != nil {
		t.Fatalf("result %+v, want a second attempt answering 200", r)
	}
}

// Stale and tampered deliveries are signed as asked and altered afterwards.
func TestSenderStaleAndTampered(t *testing.T) {
	log := &attemptLog{statuses: []int{401}}
	srv := httptest.NewServer(http.HandlerFunc(log.handler))
	defer srv.Close()
	now := time.Unix(1_700_000_000, 0)
	s := &gemini.Sender{Signer: gemini.StaticSigner{Secret: secretA}, MaxAttempts: 1, Now: func() time.Time { return now }}
	d := gemini.Delivery{ID: gemini.NewID(), Body: gemini.Payload("batch.expired"), Age: 10 * time.Minute, Tamper: true}
	s.Send(context.Background(), srv.URL, d)

	if want := strconv.FormatInt(now.Add(-10*time.Minute).Unix(), 10); log.stamps[0] != want {
		t.Fatalf("timestamp %s, want %s (10 minutes old)", log.stamps[0], want)
	}
	if bytes.Equal(log.bodies[0], d.Body) {
		t.Fatal("tampered delivery sent the signed body")
	}
	h, _ := gemini.SignStatic(secretA, d.ID, now.Add(-10*time.Minute), d.Body)
	if log.sigs[0] != h.Get(gemini.HeaderSignature) {
		t.Fatal("tampered delivery's signature is not the original body's")
	}
}
