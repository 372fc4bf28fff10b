package inspector

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"
)

// subscriberBuffer is how many events a slow page may fall behind by;
// past it its events are dropped and the page is told to reload.
const subscriberBuffer = 256

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
	in.subMu.Unlock()
	defer func() {
		in.subMu.Lock()
		delete(in.subs, ch)
		in.watchers.Add(-1)
		in.subMu.Unlock()
	}()
	// The admin listener's write timeout would end the stream: each write
	// sets its own deadline instead.
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
