package main

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/geminiwebhooks/receiver/scripts/simulator/gemini"
)

// staleAge is how far back a stale delivery is signed: twice the default window.
const staleAge = 10 * time.Minute

// step is one delivery of a scenario and what the receiver should answer.
type step struct {
	Kind string // event, duplicate, stale, tampered, malformed
	gemini.Delivery
	Want expectation
}

// expectation is a set of acceptable statuses and outcomes, as the
// receiver's HTTP contract (package core) answers that kind of delivery.
type expectation struct {
	Statuses []int
	Outcomes []string
}

var (
	wantProcessed  = expectation{[]int{http.StatusOK, http.StatusAccepted}, []string{"processed", "queued"}}
	wantDuplicate  = expectation{[]int{http.StatusOK}, []string{"duplicate"}}
	wantRejected   = expectation{[]int{http.StatusUnauthorized}, []string{"rejected"}}
	wantDeadLetter = expectation{[]int{http.StatusOK}, []string{"dead_letter"}}
)

func (e expectation) met(status int, outcome string) bool {
	return slices.Contains(e.Statuses, status) && slices.Contains(e.Outcomes, outcome)
}

func (e expectation) String() string {
	s := make([]string, len(e.Statuses))
	for i, st := range e.Statuses {
		s[i] = strconv.Itoa(st)
	}
	return strings.Join(s, "|") + " " + strings.Join(e.Outcomes, "|")
}

// finalStatuses are the non-2xx answers that end retries for this step.
func (e expectation) finalStatuses() []int {
	var out []int
	for _, s := range e.Statuses {
		if s/100 != 2 {
			out = append(out, s)
		}
	}
	return out
}

type plan struct {
	events     []string
	duplicates int
	stale      bool
	tampered   bool
	malformed  bool
	metadata   map[string]any // user_metadata of dynamic jobs; nil for static
}

// build lays out the deliveries: every event once, then the duplicates of the
// first, then the stale, tampered and malformed ones.
func (p plan) build(now time.Time) []step {
	var steps []step
	for _, t := range p.events {
		steps = append(steps, p.newStep("event", t, now, wantProcessed))
	}
	if len(steps) > 0 {
		for range p.duplicates {
			dup := steps[0]
			dup.Kind, dup.Want = "duplicate", wantDuplicate
			steps = append(steps, dup)
		}
	}
	if p.stale {
		s := p.newStep("stale", "batch.succeeded", now.Add(-staleAge), wantRejected)
		s.Age = staleAge
		steps = append(steps, s)
	}
	if p.tampered {
		s := p.newStep("tampered", "batch.succeeded", now, wantRejected)
		s.Tamper = true
		steps = append(steps, s)
	}
	if p.malformed {
		s := p.newStep("malformed", "", now, wantDeadLetter)
		s.Body = []byte(`{"type": "batch.succeeded", "version": "v1", "data": {"id": "batches/trunc`)
		steps = append(steps, s)
	}
	for i := range steps {
		steps[i].Final = steps[i].Want.finalStatuses()
	}
	return steps
}

func (p plan) newStep(kind, eventType string, now time.Time, want expectation) step {
	return step{
		Kind: kind,
		Delivery: gemini.Delivery{
			ID:        gemini.NewID(),
			EventType: eventType,
			Body:      gemini.NewPayload(eventType, now, p.metadata),
		},
		Want: want,
	}
}

// label names the step in the report.
func (s step) label() string {
	switch s.Kind {
	case "event":
		return s.EventType
	case "duplicate":
		return "duplicate " + s.EventType
	case "stale":
		return fmt.Sprintf("stale (%s old)", staleAge)
	case "malformed":
		return "malformed JSON"
	}
	return s.Kind
}
