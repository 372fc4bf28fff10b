package core

import (
	"math/rand/v2"
	"time"
)

// Backoff is the one retry schedule every retrier here uses (the local
// queue, the SQS worker, notices): First after the first failure, doubled
// after each further one, at most Max, with ±20 % jitter so that retries of
// many events do not align.
type Backoff struct {
	First, Max time.Duration
}

// Delay is the wait after the n-th failed attempt (n ≥ 1).
func (b Backoff) Delay(n int) time.Duration {
	d := b.First
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}
