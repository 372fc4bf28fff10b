package core_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/verify"
)

// A Receiver is an http.Handler: mount it in any server. Here it runs on
// httptest with a memory store and answers a static delivery signed as
// Gemini signs it (Standard Webhooks: HMAC-SHA256 over id.timestamp.body,
// keyed with the whsec_ secret). Gemini delivers at least once; the same
// delivery again is answered duplicate and runs no handler, and a forged
// one is refused with 401.
func ExampleNewReceiver() {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	v, err := verify.New(context.Background(), verify.Config{Secrets: []string{secret}})
	if err != nil {
		panic(err)
	}
	mux := core.NewMux().On(core.BatchSucceeded, func(ctx context.Context, ev *core.Event) error {
		fmt.Println("handler:", ev.JobID(), ev.Data.OutputFileURI)
		return nil
	})
	receiver, err := core.NewReceiver(core.ReceiverOptions{
		Verifier:  v.Schemes(),
		Store:     core.NewMemoryStore(0),
		Processor: mux,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)), // one line per delivery
	})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(receiver)
	defer srv.Close()

	body := `{"type":"batch.succeeded","version":"v1","data":{"id":"batches/b1","output_file_uri":"files/out-b1"}}`
	deliver := func(id, signingSecret string) {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(signingSecret, "whsec_"))
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id + "." + ts + "." + body))
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
		req.Header.Set(verify.HeaderID, id)
		req.Header.Set(verify.HeaderTimestamp, ts)
		req.Header.Set(verify.HeaderSignature, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, strings.TrimSpace(string(answer)))
	}
	deliver("msg_1", secret)
	deliver("msg_1", secret) // Gemini's retry of the same delivery
	deliver("msg_2", "whsec_dGVzdC1zZWNyZXQtQS0wMTIzNDU2Nzg5YWJjZGVmZ2g=")
	// Output:
	// handler: batches/b1 files/out-b1
	// 200 {"outcome":"processed","webhook_id":"msg_1"}
	// 200 {"outcome":"duplicate","webhook_id":"msg_1"}
	// 401 {"outcome":"rejected","reason":"signature verification failed: no v1 signature matches any configured secret"}
}

// A Store owns each delivery id once: the first claim wins and must be
// completed (or released, on failure) by its owner; a second claim while it
// runs is in progress (the receiver answers 409 and Gemini retries), one
// after it completed is a duplicate, and the same id with another body is a
// conflict. MemoryStore is the in-process Store; the file (adapters/bolt)
// and Firestore stores keep the same rules across processes, as
// core/storetest checks.
func ExampleMemoryStore() {
	ctx := context.Background()
	store := core.NewMemoryStore(0)
	now := time.Date(2026, 1, 22, 12, 0, 0, 0, time.UTC)
	claim := func(owner, body string) core.Claim {
		return core.Claim{Key: "msg_1", Owner: owner, BodyHash: core.HashBody([]byte(body)),
			Now: now, LeaseUntil: now.Add(time.Minute)}
	}
	first := claim(core.NewOwner(), "{}")
	r, _ := store.Claim(ctx, first)
	fmt.Println("first:", r)
	r, _ = store.Claim(ctx, claim(core.NewOwner(), "{}"))
	fmt.Println("while it runs:", r)
	if err := store.Complete(ctx, first, now.Add(core.DefaultTTL)); err != nil {
		panic(err)
	}
	r, _ = store.Claim(ctx, claim(core.NewOwner(), "{}"))
	fmt.Println("after it completed:", r)
	r, _ = store.Claim(ctx, claim(core.NewOwner(), `{"other":1}`))
	fmt.Println("another body:", r)
	// Output:
	// first: claimed
	// while it runs: in_progress
	// after it completed: duplicate
	// another body: conflict
}
