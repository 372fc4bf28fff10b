package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"
)

// Signer makes the webhook headers of one attempt of a delivery.
type Signer interface {
	Sign(id string, at time.Time, body []byte) (http.Header, error)
}

// Delivery is one event as Gemini delivers it: the same id and body on every
// attempt, a fresh timestamp and signature each time.
type Delivery struct {
	ID        string
	EventType string // for reports; the body says what the event is
	Body      []byte
	// Age backdates the signature (a stale delivery, outside the replay window).
	Age time.Duration
	// Tamper changes the body after it is signed, as an attacker on the path would.
	Tamper bool
	// Final lists non-2xx statuses that end the retries (the answer a test
	// expects); Gemini itself stops only on 2xx.
	Final []int
}

// Result is how a delivery ended.
type Result struct {
	Status   int    // last HTTP status; 0 when no answer came
	Outcome  string // "outcome" of the receiver's JSON answer, when it has one
	Reason   string // "reason" of the receiver's JSON answer
	Attempts int
	Latency  time.Duration // of the last attempt
	Err      error         // transport error of the last attempt
}

// Sender delivers with Gemini's behaviour: POST, and on anything but 2xx
// (or no answer within Timeout) retry with exponential backoff.
type Sender struct {
	Client         *http.Client // default: a client with Timeout
	Signer         Signer
	MaxAttempts    int           // default 3 (Gemini keeps going for 24 h)
	InitialBackoff time.Duration // default 1s, doubled after every attempt
	MaxBackoff     time.Duration // default 1m
	Timeout        time.Duration // per attempt; default 10s ("a few seconds" at Gemini)

	Now   func() time.Time                                 // default time.Now
	Sleep func(ctx context.Context, d time.Duration) error // default: a timer bounded by ctx
}

// Send delivers d to url until an attempt answers 2xx or a status in
// d.Final, attempts run out, or ctx ends.
func (s *Sender) Send(ctx context.Context, url string, d Delivery) Result {
	maxAttempts := s.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = 3
	}
	backoff := s.InitialBackoff
	if backoff <= 0 {
		backoff = time.Second
	}
	maxBackoff := s.MaxBackoff
	if maxBackoff <= 0 {
		maxBackoff = time.Minute
	}
	var r Result
	for r.Attempts < maxAttempts {
		if r.Attempts > 0 {
			if err := s.sleep(ctx, backoff); err != nil {
				r.Err = err
				return r
			}
			backoff = min(2*backoff, maxBackoff)
		}
		r.Attempts++
		s.attempt(ctx, url, d, &r)
		if r.Err == nil && (r.Status/100 == 2 || slices.Contains(d.Final, r.Status)) {
			return r
		}
		if ctx.Err() != nil {
			return r
		}
	}
	return r
}

func (s *Sender) attempt(ctx context.Context, url string, d Delivery, r *Result) {
	r.Status, r.Outcome, r.Reason, r.Err = 0, "", "", nil
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	h, err := s.Signer.Sign(d.ID, now().Add(-d.Age), d.Body)
	if err != nil {
		r.Err = fmt.Errorf("sign: %w", err)
		return
	}
	body := d.Body
	if d.Tamper {
		body = TamperBody(body)
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		r.Err = err
		return
	}
	req.Header = h
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "gemini-webhook-simulator/1")
	client := s.Client
	if client == nil {
		client = http.DefaultClient
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		r.Latency = time.Since(start)
		r.Err = err
		return
	}
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	r.Latency = time.Since(start)
	r.Status = resp.StatusCode
	var a struct {
		Outcome string `json:"outcome"`
		Reason  string `json:"reason"`
	}
	if json.Unmarshal(answer, &a) == nil {
		r.Outcome, r.Reason = a.Outcome, a.Reason
	}
}

func (s *Sender) sleep(ctx context.Context, d time.Duration) error {
	if s.Sleep != nil {
		return s.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TamperBody returns body with a field slipped into its data, the change an
// attacker would make; bodies without a data object get a trailing space.
func TamperBody(body []byte) []byte {
	if i := bytes.Index(body, []byte(`"data":{`)); i >= 0 {
		j := i + len(`"data":{`)
		field := `"tampered":true,`
		if j < len(body) && body[j] == '}' {
			field = `"tampered":true`
		}
		return append(append(append([]byte{}, body[:j]...), field...), body[j:]...)
	}
	return append(append([]byte{}, body...), ' ')
}
