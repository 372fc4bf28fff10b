package lambdarie

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/internal/env"
	"github.com/geminiwebhooks/receiver/adapters/internal/wire"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
)

// Built once for the package: the bootstrap binary and the services the
// runs under the emulator use (Firestore as the store, moto_server for
// Secrets Manager and SQS, and a moto answering one request at a time for
// DynamoDB, whose conditional writes must be atomic as in DynamoDB).
var (
	bootstrapPath string
	firestoreHost string
	motoURL       string
	dynamoURL     string
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "lambda-bootstrap-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := testenv.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if bootstrapPath, err = testenv.BuildBootstrap(ctx, filepath.Join(root, "functions", "lambda"), dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fs, err := testenv.StartFirestore(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "firestore emulator:", err)
		return 1
	}
	defer fs.Stop()
	firestoreHost = fs.Host
	if err := warmUpFirestore(ctx, fs.Host); err != nil {
		fmt.Fprintln(os.Stderr, "firestore emulator warm-up:", err)
		return 1
	}
	moto, err := testenv.StartMoto(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "moto_server:", err)
		return 1
	}
	defer moto.Stop()
	motoURL = "http://" + moto.Host
	dynamo, err := testenv.StartMotoSerial(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "moto (DynamoDB):", err)
		return 1
	}
	defer dynamo.Stop()
	dynamoURL = "http://" + dynamo.Host
	return m.Run()
}

// warmUpFirestore makes the emulator's first, slow requests (class loading,
// JIT) here, through the same store the bootstrap builds, so the runs under
// the Lambda emulator meet a warm database as a deployed function would.
func warmUpFirestore(ctx context.Context, host string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	os.Setenv("FIRESTORE_EMULATOR_HOST", host) // the client reads it itself
	defer os.Unsetenv("FIRESTORE_EMULATOR_HOST")
	cfg, err := env.Load(func(k string) string {
		return map[string]string{"IDEMPOTENCY_STORE": "firestore", "GOOGLE_CLOUD_PROJECT": "lambda-warm-up"}[k]
	}, env.Serverless)
	if err != nil {
		return err
	}
	backend, err := wire.OpenBackend(ctx, cfg)
	if err != nil {
		return err
	}
	defer backend.Close()
	store := backend.Store
	// The store's own per-call deadline is short; early calls may miss it
	// while the emulator warms, so retry until the batch goes through.
	now := time.Now()
	for i := 0; i < 10; {
		c := core.Claim{Key: fmt.Sprint("warm-", i), Owner: "warm-up", BodyHash: core.HashBody(nil), Now: now, LeaseUntil: now.Add(time.Minute)}
		_, err := store.Claim(ctx, c)
		if err == nil {
			_, err = store.Claim(ctx, c)
		}
		if err == nil {
			err = store.Complete(ctx, c, now.Add(time.Hour))
		}
		if err == nil {
			i++
			continue
		}
		if ctx.Err() != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return testenv.ResetFirestore(ctx, host, cfg.GoogleCloudProject)
}
