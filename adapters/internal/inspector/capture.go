package inspector

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/geminiwebhooks/receiver/core"
)

// resendHeader marks a Resend's request with a nonce the inspector issued
// (a peer's own header names nothing the inspector knows).
const resendHeader = "Inspector-Resend"

type captureKey struct{}

// capture is one request's record while the receiver handles it.
type capture struct {
	e    *Entry
	body capBuffer
}

// Wrap returns next (the receiver on the webhook port) recording each
// request: its headers and capped body here, the rest from its "delivery"
// log line (LogHandler), and the entry becomes the newest once answered.
func (in *Inspector) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &capture{e: &Entry{At: time.Now(), Header: redactHeader(r.Header)}}
		if nonce := r.Header.Get(resendHeader); nonce != "" {
			in.mu.Lock()
			c.e.ResendOf = in.resends[nonce]
			delete(in.resends, nonce)
			in.mu.Unlock()
		}
		if r.Body != nil {
			if n := r.ContentLength; n > 0 {
				c.body.b = make([]byte, 0, min(n, MaxBody))
			}
			r.Body = &teeBody{ReadCloser: r.Body, c: c}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), captureKey{}, c)))
		c.e.Body, c.e.BodyTruncated = c.body.b, c.body.n > int64(len(c.body.b))
		c.e.BodyBytes = c.body.n
		in.add(c.e)
		if in.Watching() {
			in.changed(c.e.Seq)
		}
	})
}

// capBuffer keeps the first MaxBody bytes written and counts them all.
type capBuffer struct {
	b []byte
	n int64
}

func (c *capBuffer) write(p []byte) {
	c.n += int64(len(p))
	if room := MaxBody - len(c.b); room > 0 {
		c.b = append(c.b, p[:min(room, len(p))]...)
	}
}

type teeBody struct {
	io.ReadCloser
	c *capture
}

func (t *teeBody) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	t.c.body.write(p[:n])
	return n, err
}

// secretish says whether a header's value proves something (a signature,
// a token, a cookie): such values are kept truncated, never whole.
func secretish(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"signature", "token", "authorization", "cookie", "secret", "key", "assertion"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// redactHeader copies h in a stable order, values bounded, and those of
// secretish headers cut to their first 12 characters.
func redactHeader(h http.Header) [][2]string {
	out := make([][2]string, 0, len(h))
	for name, vs := range h {
		if name == resendHeader {
			continue
		}
		for _, v := range vs {
			out = append(out, [2]string{name, redactValue(name, v)})
		}
	}
	sortHeader(out)
	return out
}

func redactValue(name, v string) string {
	if secretish(name) {
		return Truncate(v)
	}
	if len(v) > MaxHeaderValue {
		return v[:MaxHeaderValue] + "…"
	}
	return v
}

// Truncate shows a signature or token by its first 12 characters and its
// length: enough to tell two apart, never enough to reuse one.
func Truncate(v string) string {
	const keep = 12
	if len(v) <= keep {
		return strings.Repeat("•", len(v))
	}
	return v[:keep] + "…(" + itoa(len(v)) + " chars)"
}

// LogHandler returns h with the inspector reading the receiver's
// "delivery" lines and the queue worker's "task" lines as they pass.
func (in *Inspector) LogHandler(h slog.Handler) slog.Handler {
	return logHandler{Handler: h, in: in}
}

type logHandler struct {
	slog.Handler
	in    *Inspector
	attrs []slog.Attr // from WithAttrs, outside any group
	group bool
}

func (h logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := h
	n.Handler = h.Handler.WithAttrs(as)
	if !h.group {
		n.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	}
	return n
}

func (h logHandler) WithGroup(name string) slog.Handler {
	n := h
	n.Handler, n.group = h.Handler.WithGroup(name), true
	return n
}

func (h logHandler) Handle(ctx context.Context, r slog.Record) error {
	if !h.group {
		switch r.Message {
		case core.LineDelivery:
			if c, ok := ctx.Value(captureKey{}).(*capture); ok {
				h.each(r, func(a slog.Attr) { c.e.setDelivery(a) })
			}
		case core.LineTask:
			h.in.task(h, r)
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h logHandler) each(r slog.Record, f func(slog.Attr)) {
	for _, a := range h.attrs {
		f(a)
	}
	r.Attrs(func(a slog.Attr) bool { f(a); return true })
}

// intOf and floatOf read a number of a line whatever its kind: a handler
// may add an attribute of the same name with another (AddLineAttrs), and
// slog's accessors panic on the wrong kind.
func intOf(v slog.Value) int64 {
	switch v.Kind() {
	case slog.KindInt64:
		return v.Int64()
	case slog.KindFloat64:
		return int64(v.Float64())
	}
	return 0
}

func floatOf(v slog.Value) float64 {
	switch v.Kind() {
	case slog.KindFloat64:
		return v.Float64()
	case slog.KindInt64:
		return float64(v.Int64())
	}
	return 0
}

// setDelivery takes one attribute of a delivery (or task) line.
func (e *Entry) setDelivery(a slog.Attr) {
	switch a.Key {
	case "webhook_id":
		e.ID = a.Value.String()
	case "webhook_id_unverified":
		e.Unverified = a.Value.Kind() == slog.KindBool && a.Value.Bool()
	case "event_type":
		e.EventType = a.Value.String()
	case "scheme":
		e.Scheme = a.Value.String()
	case "outcome":
		e.Outcome = a.Value.String()
	case "status":
		e.Status = int(intOf(a.Value))
	case "attempt": // task lines
		e.Attempt = int(intOf(a.Value))
	case "reason":
		e.Reason = a.Value.String()
	case "error":
		e.Error = a.Value.String()
	case "job_id":
		e.JobID = a.Value.String()
	case "handlers":
		e.Handlers = a.Value.String()
	case "handler_ms":
		e.HandlerMS = floatOf(a.Value)
	case "latency_ms":
		e.LatencyMS = floatOf(a.Value)
	}
}

// task takes a task line: the handlers' outcome of the delivery it names,
// and of a dead letter replayed from the page.
func (in *Inspector) task(h logHandler, r slog.Record) {
	var line Entry // the task line's fields, read as a delivery line's
	h.each(r, func(a slog.Attr) { line.setDelivery(a) })
	id, outcome := line.ID, line.Outcome
	if id == "" {
		return
	}
	in.mu.Lock()
	_, replayed := in.replays[id]
	if replayed {
		in.replays[id] = outcome
	}
	in.mu.Unlock()
	e, ok := in.update(id, func(e *Entry) {
		e.Task, e.Attempt, e.Handlers, e.HandlerMS, e.TaskMS, e.TaskError = outcome, line.Attempt, line.Handlers, line.HandlerMS, line.LatencyMS, line.Error
		e.TaskUpdated = time.Now()
	})
	if !in.Watching() {
		return
	}
	if ok {
		in.changed(e.Seq)
	}
	if replayed {
		in.publishReplay(id, outcome)
	}
}
