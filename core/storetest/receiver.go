package storetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/geminiwebhooks/receiver/core"
)

// Helpers for testing a store behind the receiver, as deliveries reach it.

// Secret signs the deliveries Signed makes and NewReceiver verifies (the
// Standard Webhooks test vector's secret).
const Secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// Counter is a mux whose default handler counts how often each delivery
// was processed.
type Counter struct {
	mu sync.Mutex
	n  map[string]int
}

// Mux is a mux that counts every event into c.
func (c *Counter) Mux() *core.Mux {
	return core.NewMux().Default(func(_ context.Context, ev *core.Event) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.n == nil {
			c.n = map[string]int{}
		}
		c.n[ev.Delivery.ID]++
		return nil
	})
}

// Get is how often delivery id was processed.
func (c *Counter) Get(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[id]
}

// String lists the counts, for a test's error.
func (c *Counter) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprint(c.n)
}

// Clock is a clock a test moves (core.ReceiverOptions.Clock: c.Now).
type Clock struct{ ns atomic.Int64 }

// NewClock is a clock at t.
func NewClock(t time.Time) *Clock { c := &Clock{}; c.ns.Store(t.UnixNano()); return c }

// Now is the clock's time.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()) }

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// NewReceiver is a receiver with o that verifies Secret's signatures
// (a 5-minute window) and, unless o says otherwise, logs nowhere.
func NewReceiver(t testing.TB, o core.ReceiverOptions) *core.Receiver {
	t.Helper()
	v, err := core.NewStaticVerifier([]string{Secret}, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	o.Verifier = v
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	h, err := core.NewReceiver(o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Signed is a delivery of body with webhook-id id, signed with Secret at
// ts by the Standard Webhooks library, as Gemini signs it.
func Signed(t testing.TB, id string, ts time.Time, body []byte) core.Request {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(Secret)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := wh.Sign(id, ts, body)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set("webhook-signature", sig)
	return core.Request{Method: http.MethodPost, Header: h, Body: bytes.NewReader(body), ContentLength: int64(len(body))}
}

// EventBody is the batch.succeeded event of batch id as it happened at t.
func EventBody(id string, t time.Time) []byte {
	return fmt.Appendf(nil, `{"type":"batch.succeeded","version":"v1","timestamp":%q,"data":{"id":"batches/%s","output_file_uri":"files/%s"}}`, t.UTC().Format(time.RFC3339Nano), id, id)
}
