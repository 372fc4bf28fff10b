package core_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/geminiwebhooks/receiver/core"
)

// outcomeLog is a DeliveryObserver that remembers what it was told.
type outcomeLog struct {
	mu  sync.Mutex
	got []Outcome
	at  []time.Time
}

func (l *outcomeLog) ObserveDelivery(o Outcome, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got, l.at = append(l.got, o), append(l.at, at)
}

// TestObserverSeesEveryOutcome: the observer is told each delivery's
// outcome, the one the log line and the answer carry, at the delivery's time.
func TestObserverSeesEveryOutcome(t *testing.T) {
	obs := &outcomeLog{}
	f := newFixture(t, func(o *ReceiverOptions) { o.Observer = obs })
	tampered := f.signed(t, "msg_tampered", okBody)
	tampered.Body = http.NoBody
	get := httptest.NewRequest(http.MethodGet, "/", strings.NewReader(""))
	steps := []struct {
		r    *http.Request
		want Outcome
	}{
		{f.signed(t, "msg_1", okBody), OutcomeProcessed},
		{f.signed(t, "msg_1", okBody), OutcomeDuplicate},
		{f.signed(t, "msg_1", `{"other":1}`), OutcomeConflict},
		{f.signed(t, "msg_bad", `not json`), OutcomeDeadLetter},
		{tampered, OutcomeRejected},
		{get, OutcomeRejected},
	}
	for i, s := range steps {
		f.do(s.r)
		if got := f.lastLog(t)["outcome"]; got != string(s.want) {
			t.Fatalf("step %d: logged %v, want %s", i, got, s.want)
		}
	}
	if len(obs.got) != len(steps) {
		t.Fatalf("observed %d deliveries, want %d: %v", len(obs.got), len(steps), obs.got)
	}
	for i, s := range steps {
		if obs.got[i] != s.want || !obs.at[i].Equal(f.now) {
			t.Errorf("delivery %d: observed %s at %v, want %s at %v", i, obs.got[i], obs.at[i], s.want, f.now)
		}
	}
}

// TestNoObserverByDefault: without an Observer nothing is called and
// nothing fails (the default is in NewReceiver, once).
func TestNoObserverByDefault(t *testing.T) {
	f := newFixture(t, nil)
	if w, _ := f.do(f.signed(t, "msg_1", okBody)); w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
}
