package testenv

import (
	"math/rand/v2"
	"sync"
	"time"
)

// ShuffleWindows shuffles s within consecutive windows of size n: the
// copies of a delivery that sit close together stay close, so concurrent
// senders deliver them at about the same moment, in an unpredictable order.
func ShuffleWindows[T any](s []T, n int, rnd *rand.Rand) {
	for lo := 0; lo < len(s); lo += n {
		w := s[lo:min(lo+n, len(s))]
		rnd.Shuffle(len(w), func(i, j int) { w[i], w[j] = w[j], w[i] })
	}
}

// Redeliver sends deliveries 0…n-1 from workers goroutines at once, each
// retried as Gemini retries: after any answer that is not 2xx (0 meaning
// none) it is sent again, after 20 ms doubling to at most 1 s, until a 2xx
// or the deadline. send(i, attempt) sends delivery i for the attempt-th
// time and returns the status. Redeliver returns the answers over every
// attempt, by status, and how many deliveries never got a 2xx.
func Redeliver(n, workers int, deadline time.Time, send func(i, attempt int) int) (answers map[int]int, failures int) {
	var mu sync.Mutex
	answers = map[int]int{}
	work := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				backoff := 20 * time.Millisecond
				for attempt := 0; ; attempt++ {
					status := send(i, attempt)
					mu.Lock()
					answers[status]++
					mu.Unlock()
					if status/100 == 2 {
						break
					}
					if time.Now().After(deadline) {
						mu.Lock()
						failures++
						mu.Unlock()
						break
					}
					time.Sleep(backoff)
					backoff = min(2*backoff, time.Second)
				}
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	return answers, failures
}
