package inspector

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"
)

// subscriberBuffer is how many events a slow page may fall behind by;
// past it its events are dropped.
const subscriberBuffer = 256

// The live rows are sent in batches: every flushEvery, the rows of the
// deliveries that arrived or changed since, at most flushMax (the newest).
// A burst then costs the page's stream a bounded number of rendered rows a
// second, however many deliveries it carries; the list itself (a reload)
// always has them all.
const (
	flushEvery = 100 * time.Millisecond
	flushMax   = 50
)

// events streams the page's live updates (server-sent events): a
// "delivery" event with a row to insert or replace, a "replay" event when
// a dead letter replayed from the page ends its attempt.
func (in *Inspector) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	ch := make(chan []byte, subscriberBuffer)
	in.subMu.Lock()
	in.subs[ch] = struct{}{}
	in.watchers.Add(1)
	if !in.flushing {
		in.flushing = true
		go in.flushLoop()
	}
	in.subMu.Unlock()
	defer func() {
		in.subMu.Lock()
		delete(in.subs, ch)
		in.watchers.Add(-1)
		in.subMu.Unlock()
	}()
	// The admin listener's read timeout would end the stream (its
	// background read fails, cancelling the request), and its write timeout
	// too: no read deadline, and each write sets its own.
	_ = rc.SetReadDeadline(time.Time{})
	// Each write sets its own write deadline.
	write := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write([]byte(": connected\nretry: 1000\n\n")) {
		return
	}
	ping := time.NewTicker(20 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case b := <-ch:
			if !write(b) {
				return
			}
		case <-ping.C:
			if !write([]byte(": ping\n\n")) {
				return
			}
		}
	}
}

// changed marks entry seq to be sent to the connected pages.
func (in *Inspector) changed(seq uint64) {
	in.subMu.Lock()
	if in.dirty == nil {
		in.dirty = map[uint64]struct{}{}
	}
	in.dirty[seq] = struct{}{}
	in.subMu.Unlock()
}

// flushLoop sends the changed rows every flushEvery while a page is
// connected, and ends when none is.
func (in *Inspector) flushLoop() {
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for range t.C {
		in.subMu.Lock()
		if len(in.subs) == 0 {
			in.flushing = false
			in.dirty = nil
			in.subMu.Unlock()
			return
		}
		dirty := in.dirty
		in.dirty = nil
		in.subMu.Unlock()
		if len(dirty) == 0 {
			continue
		}
		rows := in.entries(func(e *Entry) bool { _, ok := dirty[e.Seq]; return ok })
		if len(rows) > flushMax {
			rows = rows[:flushMax]
		}
		for i := len(rows) - 1; i >= 0; i-- { // oldest first: each is put on top
			in.publish("delivery", rows[i])
		}
	}
}

// publish sends e's row to every connected page.
func (in *Inspector) publish(kind string, e Entry) {
	var row bytes.Buffer
	if err := pages.ExecuteTemplate(&row, "row", e); err != nil {
		return
	}
	in.send(kind, map[string]any{"seq": e.Seq, "id": e.ID, "type": e.EventType, "outcome": e.Outcome, "job": e.JobID, "html": row.String()})
}

// publishReplay tells the pages that the replayed dead letter key ended an attempt.
func (in *Inspector) publishReplay(key, outcome string) {
	in.send("replay", map[string]string{"key": key, "outcome": outcome})
}

func (in *Inspector) send(kind string, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		return
	}
	msg := make([]byte, 0, len(data)+32)
	msg = append(msg, "event: "+kind+"\ndata: "...)
	msg = append(msg, data...)
	msg = append(msg, "\n\n"...)
	in.subMu.Lock()
	defer in.subMu.Unlock()
	for ch := range in.subs {
		select {
		case ch <- msg:
		default: // a page that does not read loses this one
		}
	}
}
