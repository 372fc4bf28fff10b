package firestore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminiwebhooks/receiver/core"
)

// A Firestore document holds at most 1 MiB and WEBHOOK_MAX_BODY_BYTES is
// 1 MiB by default, so larger bodies are split across a "chunks"
// subcollection rather than lost (a failing Put would answer 503 forever).
const (
	chunkBytes      = 512 << 10
	maxReasonBytes  = 8 << 10
	chunkCollection = "chunks"
)

type deadLetterDoc struct {
	Key        string    `firestore:"key"`
	Scheme     string    `firestore:"scheme"`
	EventType  string    `firestore:"eventType,omitempty"`
	Reason     string    `firestore:"reason"`
	Body       []byte    `firestore:"body,omitempty"`
	BodyLen    int       `firestore:"bodyLen"`
	BodyChunks int       `firestore:"bodyChunks,omitempty"` // > 0: the body is in chunks/000000…
	ReceivedAt time.Time `firestore:"receivedAt"`
	Attempts   int       `firestore:"attempts,omitempty"`
}

type chunkDoc struct {
	Data []byte `firestore:"data"`
}

// PutDeadLetter writes (or overwrites) the dead letter for d.Key. Chunks go
// first and the main document last, so a reader never sees a main document
// whose chunks are missing.
func (s *Store) PutDeadLetter(ctx context.Context, d core.DeadLetter) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	ref := s.deadLetters.Doc(docID(d.Key))
	// The reason is bounded, and a UTF-8 sequence the cut splits dropped:
	// Firestore refuses a string that is not valid UTF-8.
	doc := deadLetterDoc{
		Key: d.Key, Scheme: string(d.Scheme), EventType: d.EventType, Reason: strings.ToValidUTF8(d.Reason[:min(len(d.Reason), maxReasonBytes)], ""),
		BodyLen: len(d.Body), ReceivedAt: d.ReceivedAt, Attempts: d.Attempts,
	}
	if len(d.Body) <= chunkBytes {
		doc.Body = d.Body
	} else {
		for i := 0; i*chunkBytes < len(d.Body); i++ {
			part := d.Body[i*chunkBytes : min((i+1)*chunkBytes, len(d.Body))]
			if _, err := chunkRef(ref, i).Set(ctx, chunkDoc{Data: part}); err != nil {
				return fmt.Errorf("firestore dead letter %q: %w", d.Key, err)
			}
			doc.BodyChunks = i + 1
		}
	}
	if _, err := ref.Set(ctx, doc); err != nil {
		return fmt.Errorf("firestore dead letter %q: %w", d.Key, err)
	}
	return nil
}

// ListDeadLetters returns up to limit dead letters, oldest first (limit <= 0: all).
func (s *Store) ListDeadLetters(ctx context.Context, limit int) ([]core.DeadLetter, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	q := s.deadLetters.OrderBy("receivedAt", firestore.Asc)
	if limit > 0 {
		q = q.Limit(limit)
	}
	it := q.Documents(ctx)
	defer it.Stop()
	var out []core.DeadLetter
	for {
		snap, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("firestore list dead letters: %w", err)
		}
		var doc deadLetterDoc
		if err := snap.DataTo(&doc); err != nil {
			return nil, fmt.Errorf("firestore dead letter %s: %w", snap.Ref.ID, err)
		}
		body := doc.Body
		if doc.BodyChunks > 0 {
			if body, err = readChunks(ctx, s.client, snap.Ref, doc); err != nil {
				return nil, err
			}
		}
		out = append(out, core.DeadLetter{
			Key: doc.Key, Scheme: core.Scheme(doc.Scheme), EventType: doc.EventType, Reason: doc.Reason,
			Body: body, ReceivedAt: doc.ReceivedAt, Attempts: doc.Attempts,
		})
	}
}

// DeleteDeadLetter removes the dead letter for key (absent: no error). The
// main document goes first, so a half-finished delete leaves only chunks
// nobody reads, which the next Put or Delete overwrites or removes.
func (s *Store) DeleteDeadLetter(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	ref := s.deadLetters.Doc(docID(key))
	if _, err := ref.Delete(ctx); err != nil {
		return fmt.Errorf("firestore delete dead letter %q: %w", key, err)
	}
	it := ref.Collection(chunkCollection).DocumentRefs(ctx)
	for {
		cref, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("firestore delete dead letter %q: %w", key, err)
		}
		if _, err := cref.Delete(ctx); err != nil && status.Code(err) != codes.NotFound {
			return fmt.Errorf("firestore delete dead letter %q: %w", key, err)
		}
	}
}

func readChunks(ctx context.Context, c *firestore.Client, ref *firestore.DocumentRef, doc deadLetterDoc) ([]byte, error) {
	refs := make([]*firestore.DocumentRef, doc.BodyChunks)
	for i := range refs {
		refs[i] = chunkRef(ref, i)
	}
	snaps, err := c.GetAll(ctx, refs)
	if err != nil {
		return nil, fmt.Errorf("firestore dead letter %q chunks: %w", doc.Key, err)
	}
	body := make([]byte, 0, doc.BodyLen)
	for i, snap := range snaps {
		var ch chunkDoc
		if !snap.Exists() {
			return nil, fmt.Errorf("firestore dead letter %q: chunk %d missing", doc.Key, i)
		}
		if err := snap.DataTo(&ch); err != nil {
			return nil, fmt.Errorf("firestore dead letter %q chunk %d: %w", doc.Key, i, err)
		}
		body = append(body, ch.Data...)
	}
	if len(body) != doc.BodyLen {
		return nil, fmt.Errorf("firestore dead letter %q: body is %d bytes, want %d", doc.Key, len(body), doc.BodyLen)
	}
	return body, nil
}

func chunkRef(ref *firestore.DocumentRef, i int) *firestore.DocumentRef {
	return ref.Collection(chunkCollection).Doc(fmt.Sprintf("%06d", i))
}
