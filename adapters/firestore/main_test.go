package firestore

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
)

// emulator is the Firestore emulator every test of this package shares;
// each test works in its own project so tests never see each other's data.
var emulator *testenv.Service

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	svc, err := testenv.StartFirestore(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "firestore emulator:", err)
		return 1
	}
	defer svc.Stop()
	emulator = svc
	// The client reads this itself, as it does in production.
	os.Setenv("FIRESTORE_EMULATOR_HOST", svc.Host)
	if err := warmUp(); err != nil {
		fmt.Fprintln(os.Stderr, "firestore emulator warm-up:", err)
		return 1
	}
	return m.Run()
}

// warmUp makes the emulator's first, slow requests (class loading, JIT)
// here, so that tests with second-long deadlines measure the store, not that.
func warmUp() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := New(ctx, Config{ProjectID: "warm-up", CallTimeout: time.Minute})
	if err != nil {
		return err
	}
	defer s.Close()
	now := time.Now()
	for i := range 20 {
		c := core.Claim{Key: fmt.Sprint("warm-", i), Owner: "w", Now: now, LeaseUntil: now.Add(time.Minute)}
		if _, err := s.Claim(ctx, c); err != nil {
			return err
		}
		if _, err := s.Claim(ctx, c); err != nil {
			return err
		}
		if err := s.Complete(ctx, c, now.Add(time.Minute)); err != nil {
			return err
		}
	}
	if err := s.PutDeadLetter(ctx, core.DeadLetter{Key: "warm", ReceivedAt: now}); err != nil {
		return err
	}
	if _, err := s.ListDeadLetters(ctx, 1); err != nil {
		return err
	}
	return testenv.ResetFirestore(ctx, emulator.Host, "warm-up")
}

var projectSeq atomic.Int64

var nonProjectChars = regexp.MustCompile(`[^a-z0-9-]+`)

// newProject names a fresh emulator project for t and deletes its data when t ends.
func newProject(t testing.TB) string {
	name := nonProjectChars.ReplaceAllString(strings.ToLower(t.Name()), "-")
	if len(name) > 40 {
		name = name[:40]
	}
	p := fmt.Sprintf("fs-%s-%d", strings.Trim(name, "-"), projectSeq.Add(1))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := testenv.ResetFirestore(ctx, emulator.Host, p); err != nil {
			t.Logf("reset %s: %v", p, err)
		}
	})
	return p
}

// newConfig is a store config on a fresh project.
func newConfig(t testing.TB) Config {
	return Config{ProjectID: newProject(t), Collection: "deliveries"}
}

// open opens a store for cfg; several opens of one cfg are separate
// instances (own client, own caches) sharing the records, like two
// function instances.
func open(t testing.TB, cfg Config) *Store {
	t.Helper()
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
