package core_test

import (
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/core"
)

func TestBackoff(t *testing.T) {
	b := core.Backoff{First: time.Second, Max: 5 * time.Second}
	for _, c := range []struct {
		n    int
		base time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {4, 5 * time.Second}, {40, 5 * time.Second}} {
		for range 50 {
			d := b.Delay(c.n)
			if lo, hi := time.Duration(float64(c.base)*0.8), time.Duration(float64(c.base)*1.2); d < lo || d > hi {
				t.Fatalf("Delay(%d) = %s, want %s ±20%%", c.n, d, c.base)
			}
		}
	}
}
