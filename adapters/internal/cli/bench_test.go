package cli

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkCreateToFile is one whole create in-process: flag checks, SDK
// client, the HTTP round trip to the loopback stand-in, and the fsynced
// atomic file write.
func BenchmarkCreateToFile(b *testing.B) {
	svc := newWebhookService(b)
	env := svc.env()
	dir := b.TempDir()
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()
	var out, errb bytes.Buffer
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out.Reset()
		errb.Reset()
		args := []string{"create", "--uri", fmt.Sprintf("https://r%d.example.com/h", i), "--events", "batch.succeeded",
			"--secret-out", "file:" + filepath.Join(dir, "s")}
		if code := run(ctx, args, &out, &errb, getenv); code != 0 {
			b.Fatalf("exit %d: %s", code, errb.String())
		}
	}
}
