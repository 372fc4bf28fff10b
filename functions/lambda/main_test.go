package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/geminiwebhooks/receiver/scripts/testenv"
)

// Built once for the package: the bootstrap binary and the services the
// runs under the emulator use (Firestore as the store, moto_server for
// Secrets Manager).
var (
	bootstrapPath string
	firestoreHost string
	motoURL       string
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
	if bootstrapPath, err = buildBootstrap(ctx, dir); err != nil {
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
	moto, err := testenv.StartMoto(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "moto_server:", err)
		return 1
	}
	defer moto.Stop()
	motoURL = "http://" + moto.Host
	return m.Run()
}

// buildBootstrap builds this package as Lambda builds it (CGO_ENABLED=0,
// -tags lambda.norpc), for the host so the emulator can run it.
func buildBootstrap(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "bootstrap")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-tags", "lambda.norpc", "-ldflags=-s -w", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build bootstrap: %v\n%s", err, b)
	}
	return out, nil
}
