package storetest

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/core"
)

// outageEventTime is the time of RunOutage's events: long past, so a store
// that reads first for late events does so, as for Gemini's retries.
var outageEventTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// RunOutage freezes s's database mid-stream with pause (SIGSTOP: connections
// hang, as in a real outage; s's call timeout should be about a second):
// every delivery in the outage is answered 5xx, none 2xx, and none is
// processed. Once resume brings it back, Gemini-like retries of each are
// processed exactly once, including ones whose claim write reached the
// database after the receiver had given up (they wait out their lease,
// then are taken over).
func RunOutage(t *testing.T, s core.Store, pause, resume func() error) {
	var cnt Counter
	h := NewReceiver(t, core.ReceiverOptions{Store: s, Processor: cnt.Mux(), StoreTimeout: time.Second, Lease: 3 * time.Second})
	ctx := context.Background()

	before := make([]string, 5)
	for i := range before {
		before[i] = fmt.Sprintf("msg_before_%d", i)
		DeliverUntil2xx(t, h, before[i], time.Now().Add(30*time.Second), nil)
	}

	if err := pause(); err != nil {
		t.Fatal(err)
	}
	resumed := false
	unpause := func() {
		if !resumed {
			resumed = true
			if err := resume(); err != nil {
				t.Error(err)
			}
		}
	}
	defer unpause()

	during := make([]string, 20)
	for i := range during {
		during[i] = fmt.Sprintf("msg_during_%d", i)
	}
	ids := append(append([]string{}, during...), before...) // new ones and duplicates
	statuses := make([]int, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = h.Handle(ctx, Signed(t, id, time.Now(), EventBody(id, outageEventTime))).Status
		}()
	}
	wg.Wait()
	for i, st := range statuses {
		if st < 500 {
			t.Errorf("%s during the outage: %d, want 5xx", ids[i], st)
		}
	}
	for _, id := range during {
		if cnt.Get(id) != 0 {
			t.Errorf("%s processed during the outage", id)
		}
	}
	unpause()

	// Gemini retries non-2xx; 409 while a stranded claim's lease runs.
	deadline := time.Now().Add(30 * time.Second)
	retried := map[int]int{}
	for _, id := range ids {
		DeliverUntil2xx(t, h, id, deadline, retried)
	}
	t.Logf("answers after the outage, by status: %v", retried)
	for _, id := range ids {
		if n := cnt.Get(id); n != 1 {
			t.Errorf("%s processed %d times, want 1", id, n)
		}
	}
}

// DeliverUntil2xx retries like Gemini: non-2xx answers that invite a retry
// (409, 5xx) are retried until 2xx or the deadline. statuses counts answers.
func DeliverUntil2xx(t testing.TB, h *core.Receiver, id string, deadline time.Time, statuses map[int]int) {
	t.Helper()
	for {
		r := h.Handle(context.Background(), Signed(t, id, time.Now(), EventBody(id, outageEventTime)))
		if statuses != nil {
			statuses[r.Status]++
		}
		if r.Status/100 == 2 {
			return
		}
		if r.Status != http.StatusConflict && r.Status < 500 || time.Now().After(deadline) {
			t.Fatalf("%s: %d %s %s", id, r.Status, r.Outcome, r.Reason)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
