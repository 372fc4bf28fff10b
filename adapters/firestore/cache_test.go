package firestore

import (
	"fmt"
	"testing"
	"time"
)

func TestHints(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	h1, h2 := [32]byte{1}, [32]byte{2}
	c := newHints(2, 15*time.Minute)

	c.completed("a", h1, t0, t0.Add(48*time.Hour)) // bounded by the 15 min
	c.completed("soon", h2, t0, t0.Add(time.Minute))
	c.completed("gone", h2, t0, t0) // already expired: not kept
	tests := []struct {
		key       string
		at        time.Duration
		ok        bool
		completed bool
		hash      [32]byte
	}{
		{"a", 14 * time.Minute, true, true, h1},
		{"soon", 59 * time.Second, true, true, h2},
		{"soon", 61 * time.Second, false, false, [32]byte{}},
		{"a", 15 * time.Minute, false, false, [32]byte{}},
		{"gone", 0, false, false, [32]byte{}},
	}
	for _, tt := range tests {
		got, ok := c.get(tt.key, t0.Add(tt.at))
		if ok != tt.ok || got.completed != tt.completed || got.hash != tt.hash {
			t.Errorf("get(%s, +%s) = %+v %v", tt.key, tt.at, got, ok)
		}
	}

	// Least recently used goes first once full.
	c.busy("x", t0)
	c.busy("y", t0)
	c.get("x", t0)
	c.busy("z", t0)
	if _, ok := c.get("y", t0); ok {
		t.Error("y not evicted")
	}
	if h, ok := c.get("x", t0); !ok || h.completed {
		t.Errorf("x = %+v %v, want a busy hint", h, ok)
	}

	var off *hints // Hints < 0
	off.busy("k", t0)
	off.completed("k", h1, t0, t0.Add(time.Hour))
	if _, ok := off.get("k", t0); ok {
		t.Error("disabled hints remembered something")
	}
}

func TestHeldClaimsBounded(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	var h heldClaims
	for i := range maxHeld {
		h.put(fmt.Sprint(i), "o", t0, t0.Add(time.Minute), t0) // abandoned claims
	}
	h.put("new", "o", t0, t0.Add(time.Hour), t0.Add(2*time.Minute)) // their leases are over: swept
	if len(h.m) != 1 {
		t.Fatalf("%d held after the sweep, want 1", len(h.m))
	}
	if _, ok := h.take("new", "other"); ok {
		t.Fatal("taken by another owner")
	}
	if _, ok := h.take("new", "o"); !ok {
		t.Fatal("not taken by its owner")
	}
	if _, ok := h.take("new", "o"); ok {
		t.Fatal("taken twice")
	}
}
