package firestore

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"google.golang.org/api/iterator"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/storetest"
)

// The dead letters pass the suite every store's do (another instance
// reads them), and leave no chunk behind once deleted.
func TestDeadLetters(t *testing.T) {
	cfg := newConfig(t)
	s := open(t, cfg)
	storetest.RunDeadLetters(t, func(t *testing.T) (core.DeadLetters, core.DeadLetters) { return s, open(t, cfg) })
	chunks := s.deadLetters.Doc(DocID("msg/big")).Collection(chunkCollection).DocumentRefs(context.Background())
	if _, err := chunks.Next(); !errors.Is(err, iterator.Done) {
		t.Fatalf("chunks left after delete: %v", err)
	}
}

// A verified body that is not a v1 envelope is kept once and answered 200;
// its redelivery is a duplicate.
func TestHandlerDeadLetter(t *testing.T) {
	s := open(t, newConfig(t))
	var cnt counter
	h := newHandler(t, core.ReceiverOptions{Store: s, Processor: cnt.Mux()})
	ctx := context.Background()
	body := []byte(`{"type":"batch.succeeded","version":"v7","data":{}}`)
	if r := h.Handle(ctx, signed(t, "msg_dl", time.Now(), body)); r.Status != http.StatusOK || r.Outcome != core.OutcomeDeadLetter {
		t.Fatalf("first: %d %s", r.Status, r.Outcome)
	}
	if r := h.Handle(ctx, signed(t, "msg_dl", time.Now(), body)); r.Status != http.StatusOK || r.Outcome != core.OutcomeDuplicate {
		t.Fatalf("again: %d %s", r.Status, r.Outcome)
	}
	got, err := s.ListDeadLetters(ctx, 0)
	if err != nil || len(got) != 1 || got[0].Key != "msg_dl" || !bytes.Equal(got[0].Body, body) {
		t.Fatalf("dead letters %+v %v", got, err)
	}
}
