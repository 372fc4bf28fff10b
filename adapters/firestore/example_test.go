package firestore_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/firestore"
	"github.com/geminiwebhooks/receiver/core"
)

// The Cloud Function and the Lambda open this store themselves from the
// environment (GOOGLE_CLOUD_PROJECT, FIRESTORE_DATABASE,
// FIRESTORE_COLLECTION; FIRESTORE_EMULATOR_HOST for the emulator). Open one
// yourself only to compose your own receiver: it is the core.Store (and
// core.DeadLetters) of core.ReceiverOptions. Not run here: it needs
// Firestore or its emulator.
func ExampleNew() {
	ctx := context.Background()
	s, err := firestore.New(ctx, firestore.Config{ProjectID: "my-project", Collection: "gemini_webhook_deliveries"})
	if err != nil {
		panic(err)
	}
	defer s.Close()

	body := []byte(`{"type":"batch.succeeded","version":"v1","data":{"id":"batches/b1"}}`)
	now := time.Now()
	c := core.Claim{Key: "msg_p5jXN8AQM9LWM0D4loKWxJek", Owner: "attempt-1", BodyHash: sha256.Sum256(body),
		EventType: "batch.succeeded", Now: now, LeaseUntil: now.Add(time.Minute)}
	res, err := s.Claim(ctx, c) // one Create: claimed, or duplicate / in_progress / conflict
	if err != nil {
		panic(err) // Firestore unreachable: the receiver answers 503 and Gemini retries
	}
	fmt.Println(res)
	if res == core.Claimed {
		// … process the delivery, then keep its record for the TTL:
		if err := s.Complete(ctx, c, now.Add(core.DefaultTTL)); err != nil {
			panic(err)
		}
	}
}
