package wire_test

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/geminiwebhooks/receiver/adapters/internal/env"
	"github.com/geminiwebhooks/receiver/adapters/internal/wire"
)

// An unreachable FIRESTORE_EMULATOR_HOST is reported when the backend is
// built, naming the variable (before: the first delivery waited out its
// store deadline and answered 503); a reachable one is not dialled again.
func TestUnreachableEmulatorReportedAtBuild(t *testing.T) {
	open, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	cases := []struct {
		name, host, wantErr string
	}{
		{"nothing listens", closedAddr, "FIRESTORE_EMULATOR_HOST " + closedAddr + " is unreachable"},
		{"not an address", "no-port", "FIRESTORE_EMULATOR_HOST no-port is unreachable"},
		{"listening", open.Addr().String(), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("FIRESTORE_EMULATOR_HOST", c.host) // the client library reads it too
			cfg, err := env.Load(func(k string) string {
				return map[string]string{"IDEMPOTENCY_STORE": "firestore", "GOOGLE_CLOUD_PROJECT": "p", "FIRESTORE_EMULATOR_HOST": c.host}[k]
			}, env.Serverless)
			if err != nil {
				t.Fatal(err)
			}
			b, err := wire.OpenBackend(context.Background(), cfg)
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("OpenBackend: %v", err)
				}
				if err := b.Close(); err != nil {
					t.Error(err)
				}
				return
			}
			if err == nil {
				b.Close()
				t.Fatalf("OpenBackend succeeded, want an error with %q", c.wantErr)
			}
			if !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("error %q, want it to contain %q", err, c.wantErr)
			}
		})
	}
}
