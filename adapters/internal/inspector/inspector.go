// Package inspector is the local server's delivery inspector: a page on the
// admin listener (127.0.0.1 only) that shows every delivery as it arrives
// (server-sent events), why one was rejected, what the handlers did, the
// job ledger, what landed, and the dead letters, with Replay (the admin
// command's replay path) and Resend (the same body signed afresh with the
// local secret).
//
// It hooks the server in two places and changes nothing in the pipeline:
// Wrap is a middleware on the webhook port that keeps the request's headers
// (signatures and tokens truncated) and the first MaxBody bytes of its body,
// and LogHandler is an slog.Handler in front of the server's own that reads
// the one "delivery" line and "task" line of each event (outcome, status,
// reason, event type, job id, handlers, latency) as they are written.
//
// Bounds: the last MaxEntries (1,000) deliveries are kept in memory, each
// with at most MaxBody (16 KiB) of body and MaxHeaderValue (256) bytes per
// header value: about 20 MiB at worst, a few MiB for Gemini's thin
// payloads. Nothing is written to disk. With no page open nothing is
// rendered or sent: the cost is the capped copy of the body and headers.
package inspector

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

// The bounds of what is kept in memory (package documentation).
const (
	MaxEntries     = 1000
	MaxBody        = 16 << 10
	MaxHeaderValue = 256
	maxSessions    = 32
)

// Prefix is the path under which the inspector is served.
const Prefix = "/inspector/"

// Backend is what the page reads and acts on; every field may be nil (the
// page then says what it lacks).
type Backend struct {
	Ledger      jobs.Ledger
	DeadLetters core.DeadLetters
	Sink        jobs.Sink
	// Replay replays a dead letter through the admin command's path.
	Replay func(ctx context.Context, key string) error
	// ReceiverURL is the webhook port Resend posts to; Secret the whsec_
	// secret it signs with ("": Resend is off).
	ReceiverURL string
	Secret      string
}

// Inspector keeps the recent deliveries and serves the page.
type Inspector struct {
	token string

	mu      sync.Mutex
	ring    []*Entry          // ring[next] is the oldest once full
	taken   map[string]*Entry // delivery id → its newest taken entry (what a task line is about)
	next    int
	seq     uint64
	resends map[string]uint64 // nonce of a pending Resend → the entry it resends
	replays map[string]string // dead letters replayed from the page → their latest outcome
	be      Backend

	sessMu   sync.Mutex
	sessions map[string]string // session id → CSRF token

	watchers atomic.Int32
	subMu    sync.Mutex
	subs     map[chan []byte]struct{}
	dirty    map[uint64]struct{} // entries changed since the last flush
	flushing bool                // flushLoop runs

	handler http.Handler
}

// New returns an inspector with a fresh random access token.
func New() *Inspector {
	in := &Inspector{token: randomHex(24), resends: map[string]uint64{}, replays: map[string]string{}, taken: map[string]*Entry{},
		sessions: map[string]string{}, subs: map[chan []byte]struct{}{}}
	in.handler = in.routes()
	return in
}

// Connect gives the inspector what the page reads and acts on, once the
// server is built.
func (in *Inspector) Connect(b Backend) {
	in.mu.Lock()
	in.be = b
	in.mu.Unlock()
}

func (in *Inspector) backend() Backend {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.be
}

// URL is the tokenised address to open, for the admin listener at base
// (http://127.0.0.1:PORT): the one address that grants a session.
func (in *Inspector) URL(base string) string {
	return base + Prefix + "?token=" + in.token
}

// Watching reports whether a page is connected (a live event stream).
func (in *Inspector) Watching() bool { return in.watchers.Load() > 0 }

func (in *Inspector) tokenOK(t string) bool {
	return subtle.ConstantTimeCompare([]byte(t), []byte(in.token)) == 1
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand does not fail on supported platforms
	return hex.EncodeToString(b)
}

// Entry is one delivery the webhook port answered.
type Entry struct {
	Seq        uint64
	At         time.Time
	ID         string // the delivery id (the header's, bounded, when Unverified)
	Unverified bool
	EventType  string
	Scheme     string
	Outcome    string
	Status     int
	LatencyMS  float64
	JobID      string
	Reason     string
	Error      string

	Header        [][2]string // in arrival order; signature and token values truncated
	Body          []byte      // the first MaxBody bytes
	BodyBytes     int64       // the body's full length as read
	BodyTruncated bool

	// ResendOf is the entry this one resent (0: none).
	ResendOf uint64

	// From the event's "task" line (the local queue's worker).
	Task        string // its outcome: processed, retry, dead_letter
	Attempt     int
	Handlers    string // ok, failed, panicked, none
	HandlerMS   float64
	TaskMS      float64
	TaskError   string
	TaskUpdated time.Time
}

// add keeps e as the newest entry and returns its sequence number.
func (in *Inspector) add(e *Entry) {
	in.mu.Lock()
	in.seq++
	e.Seq = in.seq
	if len(in.ring) < MaxEntries {
		in.ring = append(in.ring, e)
	} else {
		if old := in.ring[in.next]; in.taken[old.ID] == old {
			delete(in.taken, old.ID)
		}
		in.ring[in.next] = e
		in.next = (in.next + 1) % MaxEntries
	}
	if e.ID != "" && taken(e) {
		in.taken[e.ID] = e
	}
	in.mu.Unlock()
}

// entries returns copies of the kept entries, newest first, that keep says to.
func (in *Inspector) entries(keep func(*Entry) bool) []Entry {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make([]Entry, 0, len(in.ring))
	n := len(in.ring)
	for i := 0; i < n; i++ {
		e := in.ring[(in.next+n-1-i)%n]
		if keep == nil || keep(e) {
			out = append(out, *e)
		}
	}
	return out
}

// entry returns a copy of entry seq.
func (in *Inspector) entry(seq uint64) (Entry, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, e := range in.ring {
		if e.Seq == seq {
			return *e, true
		}
	}
	return Entry{}, false
}

// taken says whether e is a delivery the pipeline took (not a duplicate
// or a rejection): the one its task line is about.
func taken(e *Entry) bool {
	return !e.Unverified && e.Outcome != string(core.OutcomeDuplicate) && e.Outcome != string(core.OutcomeRejected)
}

// update changes the newest taken entry of delivery id with f, returning a copy.
func (in *Inspector) update(id string, f func(*Entry)) (Entry, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	e, ok := in.taken[id]
	if !ok {
		return Entry{}, false
	}
	f(e)
	return *e, true
}
