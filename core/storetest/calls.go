package storetest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/core"
)

// Calls counts the requests a store's client sends, by operation or
// method name: what a delivery costs, counted on the wire.
type Calls struct {
	mu sync.Mutex
	n  map[string]int
}

// Add counts one request named name.
func (c *Calls) Add(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[name]++
}

// Take returns the requests since the last Take: their number, and
// "name=count" pairs in name order.
func (c *Calls) Take() (total int, byName string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var names []string
	for name, n := range c.n {
		total += n
		names = append(names, fmt.Sprintf("%s=%d", name, n))
	}
	sort.Strings(names)
	c.n = nil
	return total, strings.Join(names, " ")
}

// OwnRetriedClaim checks a store whose client retries a write whose answer
// was lost: if the first attempt had landed, the retry finds its own claim.
// That is still the claim of its owner, not someone else's in-progress one
// (which would strand the id for a lease).
func OwnRetriedClaim(t *testing.T, s core.Store) {
	ctx := context.Background()
	now := time.Now()
	c := core.Claim{Key: "msg_retry", Owner: "A", BodyHash: core.HashBody([]byte("x")), Now: now, LeaseUntil: now.Add(time.Minute)}
	for i := range 2 {
		if got, err := s.Claim(ctx, c); err != nil || got != core.Claimed {
			t.Fatalf("claim %d: %v %v", i, got, err)
		}
	}
	if err := s.Complete(ctx, c, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Claim(ctx, c); err != nil || got != core.Duplicate {
		t.Fatalf("after completion: %v %v", got, err)
	}
}
