package bolt_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/bolt"
	"github.com/geminiwebhooks/receiver/core"
)

// The file store is a core.Store: the first attempt at a delivery id owns
// it; once completed, Gemini's retry of the same delivery is a duplicate,
// also after the process restarts on the same file. The local server opens
// one itself (.gemini-webhooks/ under its folder); open one directly only
// to compose your own receiver (core.ReceiverOptions.Store).
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "bolt-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "idempotency.db")
	ctx := context.Background()
	now := time.Now()
	body := []byte(`{"type":"batch.succeeded","version":"v1","data":{"id":"batches/b1"}}`)
	claim := func(owner string) core.Claim {
		return core.Claim{Key: "msg_p5jXN8AQM9LWM0D4loKWxJek", Owner: owner, BodyHash: sha256.Sum256(body),
			EventType: "batch.succeeded", Now: now, LeaseUntil: now.Add(time.Minute)}
	}

	s, err := bolt.Open(path)
	if err != nil {
		panic(err)
	}
	first, err := s.Claim(ctx, claim("attempt-1"))
	fmt.Println("first delivery:", first, err)
	fmt.Println("complete:", s.Complete(ctx, claim("attempt-1"), now.Add(core.DefaultTTL)))
	s.Close()

	s, err = bolt.Open(path) // a restart: the record is on disk
	if err != nil {
		panic(err)
	}
	defer s.Close()
	retry, err := s.Claim(ctx, claim("attempt-2"))
	fmt.Println("Gemini's retry:", retry, err)
	// Output:
	// first delivery: claimed <nil>
	// complete: <nil>
	// Gemini's retry: duplicate <nil>
}
