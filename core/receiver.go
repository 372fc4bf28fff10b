package core

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"time"

	"github.com/geminiwebhooks/receiver/core/internal/delivery"
	"github.com/geminiwebhooks/receiver/core/internal/text"
)

// Defaults of the HTTP contract (package documentation).
const (
	DefaultMaxBodyBytes = 1 << 20
	DefaultTTL          = 48 * time.Hour // longer than Gemini's 24 h of retries
	DefaultLease        = 60 * time.Second
	DefaultStoreTimeout = 5 * time.Second

	// initialBodyBuffer is all a body is given before its bytes arrive.
	initialBodyBuffer = 4 << 10
)

// Outcome is the log line's verdict on a delivery.
type Outcome string

// The outcomes of the delivery log line (README, The HTTP contract).
const (
	OutcomeProcessed  Outcome = "processed"
	OutcomeQueued     Outcome = "queued"
	OutcomeDuplicate  Outcome = "duplicate"
	OutcomeRejected   Outcome = "rejected"
	OutcomeInProgress Outcome = "in_progress"
	OutcomeConflict   Outcome = "conflict"
	OutcomeFailed     Outcome = "failed"
	OutcomeDeadLetter Outcome = "dead_letter"
)

// ReceiverOptions configure a Receiver. Verifier, Store and one of Processor or Queue are required.
type ReceiverOptions struct {
	Verifier    Verifier
	Store       Store
	DeadLetters DeadLetters // where not-understood events go; defaults to Store if it implements DeadLetters
	Processor   Processor   // processes events inline, answering 200
	Queue       Queue       // when set, events are enqueued instead, answering 202
	Logger      *slog.Logger
	// Observer is told each delivery's outcome (the local server's hourly
	// counts); nil: nobody is.
	Observer DeliveryObserver

	MaxBodyBytes int64
	TTL          time.Duration // how long completed keys are kept
	Lease        time.Duration // claim lease when the request has no deadline (default 60s)
	StoreTimeout time.Duration // deadline of each store or queue call
	Clock        func() time.Time
}

// Receiver verifies and dispatches deliveries: read → verify → check window → parse → claim →
// dispatch → complete → answer. Every runtime adapter serves this same receiver.
type Receiver struct {
	o ReceiverOptions
}

// NewReceiver checks o and applies its defaults (DefaultMaxBodyBytes,
// DefaultTTL, DefaultLease, DefaultStoreTimeout, no Observer).
func NewReceiver(o ReceiverOptions) (*Receiver, error) {
	if o.Verifier == nil || o.Store == nil {
		return nil, errors.New("handler: Verifier and Store are required")
	}
	if o.Processor == nil && o.Queue == nil {
		return nil, errors.New("handler: a Processor or a Queue is required")
	}
	if o.DeadLetters == nil {
		dl, ok := o.Store.(DeadLetters)
		if !ok {
			return nil, errors.New("handler: DeadLetters required (the store does not keep them)")
		}
		o.DeadLetters = dl
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.StoreTimeout <= 0 || o.StoreTimeout > 10*time.Second {
		o.StoreTimeout = DefaultStoreTimeout
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Observer == nil {
		o.Observer = noObserver{}
	}
	return &Receiver{o: o}, nil
}

// Request is a delivery as any adapter sees it.
type Request struct {
	Method        string
	Header        http.Header
	Body          io.Reader
	ContentLength int64 // -1 when unknown
}

// Response is the handler's answer.
type Response struct {
	Status  int
	Outcome Outcome
	Reason  string // why it was rejected or failed; never holds secrets
	Body    []byte // small JSON document
}

// ServeHTTP serves the handler over net/http.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	resp := rc.Handle(r.Context(), Request{Method: r.Method, Header: r.Header, Body: r.Body, ContentLength: r.ContentLength})
	w.Header().Set("Content-Type", "application/json")
	if resp.Status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", http.MethodPost)
	}
	w.WriteHeader(resp.Status)
	_, _ = w.Write(resp.Body)
}

// result carries what the log line needs.
type result struct {
	status  int
	outcome Outcome
	reason  string
	d       Delivery
	ev      *Event
	err     error
	// cleanupErr is a failed complete or release: the claim's lease ends it,
	// and the log line says so.
	cleanupErr error
	// unverifiedID is the webhook-id header of a rejected request, truncated
	// and escaped (PrintableID); it is logged, never echoed.
	unverifiedID string
	// line holds what the actions added to the log line (the job's state).
	line *LineAttrs
}

// Handle runs one delivery through the pipeline and logs one line for it.
func (rc *Receiver) Handle(ctx context.Context, req Request) Response {
	start := rc.o.Clock()
	res := rc.handle(ctx, req, start)
	rc.logLine(ctx, res, start)
	rc.o.Observer.ObserveDelivery(res.outcome, start)
	body, _ := json.Marshal(responseBody{Outcome: res.outcome, ID: res.d.ID, Reason: res.reason})
	return Response{Status: res.status, Outcome: res.outcome, Reason: res.reason, Body: body}
}

type responseBody struct {
	Outcome Outcome `json:"outcome"`
	ID      string  `json:"webhook_id,omitempty"`
	Reason  string  `json:"reason,omitempty"`
}

func (rc *Receiver) handle(ctx context.Context, req Request, now time.Time) result {
	if req.Method != http.MethodPost {
		return result{status: http.StatusMethodNotAllowed, outcome: OutcomeRejected, reason: "method " + text.Truncate(req.Method, 16) + " not allowed"}
	}
	body, err := rc.readBody(req)
	if err != nil {
		if errors.Is(err, ErrBodyTooLarge) {
			return result{status: http.StatusRequestEntityTooLarge, outcome: OutcomeRejected, reason: err.Error()}
		}
		return result{status: http.StatusBadRequest, outcome: OutcomeRejected, reason: "cannot read body"}
	}

	d, err := rc.o.Verifier.Verify(ctx, req.Header, body, now)
	if err != nil {
		// An unproven id is neither echoed nor trusted; the log line gets a
		// bounded, escaped copy of the header so the rejection can be traced.
		d.ID = ""
		return result{status: verifyStatus(err), outcome: OutcomeRejected, reason: err.Error(), d: d,
			unverifiedID: PrintableID(delivery.Header(req.Header, delivery.HeaderID))}
	}

	// Only verified bytes are parsed. A parse failure is decided after the claim
	// so that the dead letter, too, is kept exactly once.
	ev, parseErr := ParseEvent(body)
	claim := Claim{Key: d.ID, Owner: NewOwner(), BodyHash: HashBody(body), Now: now, LeaseUntil: rc.leaseEnd(ctx, now)}
	if ev != nil {
		ev.Delivery = d
		claim.EventType, claim.EventTime = ev.Type, ev.Time()
	}
	r := result{d: d, ev: ev}
	sctx, cancel := rc.storeContext(ctx)
	verdict, err := rc.o.Store.Claim(sctx, claim)
	cancel()
	if err != nil {
		return r.fail(http.StatusServiceUnavailable, OutcomeFailed, "idempotency store unavailable", err)
	}
	if verdict != Claimed {
		return r.notClaimed(verdict)
	}

	// From here we own the claim: every path completes or releases it, and does
	// so even if the caller hangs up (a released claim lets Gemini's retry in).
	detached := context.WithoutCancel(ctx)
	if parseErr != nil {
		return rc.keepDeadLetter(detached, claim, r, DeadLetter{Key: d.ID, Scheme: d.Scheme, Reason: parseErr.Error(), Body: body, ReceivedAt: now})
	}

	if rc.o.Queue != nil {
		sctx, cancel := context.WithTimeout(detached, rc.o.StoreTimeout)
		err := rc.o.Queue.Enqueue(sctx, ev)
		cancel()
		if err != nil {
			r.cleanupErr = rc.release(detached, claim)
			return r.queueFailed(err)
		}
		r.cleanupErr = rc.complete(detached, claim, now)
		return r.set(http.StatusAccepted, OutcomeQueued, "")
	}

	// Processing may not outlive the lease: past it another instance may take over.
	pctx, cancel := context.WithDeadline(detached, claim.LeaseUntil)
	pctx, r.line = WithEventLine(pctx, rc.o.Logger, ev)
	err = rc.o.Processor.Process(pctx, ev)
	cancel()
	if errors.Is(err, ErrPermanent) {
		// No retry can fix it (a hint no Gemini API can confirm): kept, as
		// the queue workers keep it, so that nothing is lost and Gemini
		// does not retry it for a day.
		return rc.keepDeadLetter(detached, claim, r, DeadLetter{Key: d.ID, Scheme: d.Scheme, EventType: ev.Type, Reason: text.Truncate(err.Error(), 2048), Body: body, ReceivedAt: now, Attempts: 1})
	}
	if err != nil {
		r.cleanupErr = rc.release(detached, claim)
		return r.fail(http.StatusInternalServerError, OutcomeFailed, "handler failed", err)
	}
	r.cleanupErr = rc.complete(detached, claim, now)
	return r.set(http.StatusOK, OutcomeProcessed, "")
}

// keepDeadLetter keeps dl under the claim c and answers 200 dead_letter;
// when the dead letter cannot be kept the claim is released and the answer
// is 503, so Gemini retries.
func (rc *Receiver) keepDeadLetter(ctx context.Context, c Claim, r result, dl DeadLetter) result {
	sctx, cancel := context.WithTimeout(ctx, rc.o.StoreTimeout)
	err := rc.o.DeadLetters.PutDeadLetter(sctx, dl)
	cancel()
	if err != nil {
		r.cleanupErr = rc.release(ctx, c)
		return r.fail(http.StatusServiceUnavailable, OutcomeFailed, "cannot keep dead letter", err)
	}
	r.cleanupErr = rc.complete(ctx, c, c.Now)
	return r.set(http.StatusOK, OutcomeDeadLetter, dl.Reason)
}

// notClaimed answers a claim verdict other than Claimed.
func (r result) notClaimed(verdict ClaimResult) result {
	switch verdict {
	case Duplicate:
		return r.set(http.StatusOK, OutcomeDuplicate, "")
	case InProgress:
		return r.set(http.StatusConflict, OutcomeInProgress, "same webhook-id is being processed")
	case Conflict:
		return r.set(http.StatusConflict, OutcomeConflict, "same webhook-id with a different body")
	}
	return r.fail(http.StatusInternalServerError, OutcomeFailed, "unexpected claim verdict", fmt.Errorf("verdict %d", verdict))
}

// queueFailed answers an event the queue did not take: 503, Gemini retries.
func (r result) queueFailed(err error) result {
	reason := "queue unavailable"
	if errors.Is(err, ErrQueueFull) {
		reason = "queue full"
	}
	return r.fail(http.StatusServiceUnavailable, OutcomeFailed, reason, err)
}

func (r result) set(status int, o Outcome, reason string) result {
	r.status, r.outcome, r.reason = status, o, reason
	return r
}

func (r result) fail(status int, o Outcome, reason string, err error) result {
	r.status, r.outcome, r.reason, r.err = status, o, reason, err
	return r
}

func (rc *Receiver) readBody(req Request) ([]byte, error) {
	return ReadBody(req.Body, req.ContentLength, rc.o.MaxBodyBytes)
}

// leaseEnd is the request's deadline, or now+Lease when it has none. The
// lease must not end before the request's work can (processing is bounded by
// it), and past it a crashed instance's claim can be taken over.
func (rc *Receiver) leaseEnd(ctx context.Context, now time.Time) time.Time {
	if dl, ok := ctx.Deadline(); ok && dl.After(now) {
		return dl
	}
	return now.Add(rc.o.Lease)
}

// complete records success. If the store fails here the event has been
// handled; answering 5xx would make Gemini redeliver after the lease and
// process it twice, so the caller still answers 2xx and logs the error.
func (rc *Receiver) complete(ctx context.Context, c Claim, now time.Time) error {
	sctx, cancel := rc.storeContext(ctx)
	defer cancel()
	c.Now = rc.o.Clock()
	if err := rc.o.Store.Complete(sctx, c, now.Add(rc.o.TTL)); err != nil {
		return fmt.Errorf("complete: %w", err)
	}
	return nil
}

// release frees the claim so Gemini's retry is processed; if it fails the
// lease ends the claim instead.
func (rc *Receiver) release(ctx context.Context, c Claim) error {
	sctx, cancel := rc.storeContext(ctx)
	defer cancel()
	if err := rc.o.Store.Release(sctx, c); err != nil {
		return fmt.Errorf("release: %w", err)
	}
	return nil
}

// storeContext bounds one call of the idempotency store by StoreTimeout.
// The MemoryStore gets ctx as it is: it does no I/O, so nothing can make
// it outlast a deadline, and the deadline's timer (one per call, three per
// delivery) would be all it cost.
func (rc *Receiver) storeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := rc.o.Store.(*MemoryStore); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, rc.o.StoreTimeout)
}

func verifyStatus(err error) int {
	switch {
	case errors.Is(err, ErrMissingHeaders), errors.Is(err, ErrMalformedHeaders):
		return http.StatusBadRequest
	default:
		return http.StatusUnauthorized
	}
}

// NewOwner returns a random owner token for a claim or a lease (128 bits, hex).
func NewOwner() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (rc *Receiver) logLine(ctx context.Context, r result, start time.Time) {
	l := EventLine{Msg: LineDelivery, ID: r.d.ID, Event: r.ev, Scheme: r.d.Scheme, Outcome: r.outcome, Status: r.status,
		Reason: r.reason, Err: r.err, StoreErr: r.cleanupErr, Attrs: r.line, Latency: rc.o.Clock().Sub(start)}
	if l.ID == "" && r.unverifiedID != "" {
		l.ID, l.Unverified = r.unverifiedID, true
	}
	l.Log(ctx, rc.o.Logger)
}

func eventType(ev *Event) string {
	if ev == nil {
		return ""
	}
	return ev.Type
}

func roundMS(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Microsecond)) / 1000
}
