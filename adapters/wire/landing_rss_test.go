package wire_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/env"
	"github.com/geminiwebhooks/receiver/adapters/gemini/geminitest"
	"github.com/geminiwebhooks/receiver/adapters/wire"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

// Landing streams: a large output lands with the process's peak resident
// memory (VmHWM) far below its size. The landing runs in a child process
// (this test binary again) so that the stand-in serving the bytes, which
// stays in the parent, does not count. The limit is the issue's: 150 MiB
// for a 300 MiB output (LANDING_MIB changes the size).
//
//	go test ./adapters/wire -run TestLandingPeakRSS -v
func TestLandingPeakRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("lands 300 MiB")
	}
	mib := int64(300)
	if s := os.Getenv("LANDING_MIB"); s != "" {
		mib, _ = strconv.ParseInt(s, 10, 64)
	}
	api := geminitest.New(apiKey)
	defer api.Close()
	f := geminitest.File{Name: "files/out-huge", Size: mib << 20, Seed: 42}
	api.AddFile(f)
	api.AddBatch("batches/huge", geminitest.Batch{State: "BATCH_STATE_SUCCEEDED", OutputFile: f.Name})
	dir := t.TempDir()

	cmd := exec.Command(os.Args[0], "-test.run=^TestLandingChild$", "-test.v")
	cmd.Env = append(os.Environ(), "LANDING_CHILD=1", "LANDING_API="+api.URL, "LANDING_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var hwm, rssAtStart int64
	var secs float64
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		fmt.Sscanf(strings.TrimSpace(sc.Text()), "landing: VmHWM_kB=%d start_kB=%d seconds=%g", &hwm, &rssAtStart, &secs)
	}
	if hwm == 0 {
		t.Fatalf("child printed no measurement:\n%s", out)
	}
	want := geminitest.Expect(f)
	landed, err := os.Stat(filepath.Join(dir, "results", "batches", "huge", "results.jsonl"))
	if err != nil || landed.Size() != want.Bytes {
		t.Fatalf("landed %v, %v; want %d bytes", landed, err, want.Bytes)
	}
	t.Logf("landed %d MiB in %.2fs: %.0f MiB/s; peak RSS %.1f MiB (%.1f MiB before landing)",
		mib, secs, float64(mib)/secs, float64(hwm)/1024, float64(rssAtStart)/1024)
	if hwm > 150*1024 {
		t.Fatalf("peak RSS %d kB while landing %d MiB: over 150 MiB", hwm, mib)
	}
}

// TestLandingChild is the child of TestLandingPeakRSS; alone it does nothing.
func TestLandingChild(t *testing.T) {
	if os.Getenv("LANDING_CHILD") != "1" {
		t.Skip("run by TestLandingPeakRSS")
	}
	dir := os.Getenv("LANDING_DIR")
	vars := map[string]string{
		"WEBHOOK_SIGNING_SECRET": secret,
		"STATE_PATH":             filepath.Join(dir, "state.db"),
		"RESULTS_SINK":           filepath.Join(dir, "results"),
		"GEMINI_API_KEY":         apiKey,
		"GOOGLE_GEMINI_BASE_URL": os.Getenv("LANDING_API"),
	}
	getenv := func(k string) string { return vars[k] }
	cfg, err := env.Load(getenv, env.Local)
	if err != nil {
		t.Fatal(err)
	}
	app, err := wire.Build(context.Background(), cfg, nil, wire.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), LocalQueue: true, Cloud: testCloud})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	ev, err := core.ParseEvent(batchEvent("batch.succeeded", "batches/huge", "files/out-huge"))
	if err != nil {
		t.Fatal(err)
	}
	ev.Delivery = core.Delivery{ID: "msg_huge", Scheme: core.SchemeStatic}
	start := vmKB(t, "VmRSS")
	t0 := time.Now()
	if err := app.Processing.Jobs.Process(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	secs := time.Since(t0).Seconds()
	j, _ := app.Processing.Ledger.GetJob(context.Background(), "batches/huge")
	if j == nil || j.Landing != jobs.LandingLanded {
		t.Fatalf("not landed: %+v", j)
	}
	fmt.Printf("landing: VmHWM_kB=%d start_kB=%d seconds=%g\n", vmKB(t, "VmHWM"), start, secs)
}

// vmKB reads a field (in kB) of /proc/self/status.
func vmKB(t *testing.T, field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// BenchmarkLanding is the landing's throughput from a loopback Gemini API
// into a folder: download, SHA-256, line counts, fsync'd write, manifest,
// ledger (bbolt). One op lands 64 MiB.
//
//	go test ./adapters/wire -run '^$' -bench Landing -benchtime 5x
func BenchmarkLanding(b *testing.B) {
	api := geminitest.New(apiKey)
	defer api.Close()
	const size = 64 << 20
	dir := b.TempDir()
	vars := map[string]string{
		"WEBHOOK_SIGNING_SECRET": secret, "STATE_PATH": filepath.Join(dir, "state.db"), "RESULTS_SINK": filepath.Join(dir, "results"),
		"GEMINI_API_KEY": apiKey, "GOOGLE_GEMINI_BASE_URL": api.URL,
	}
	getenv := func(k string) string { return vars[k] }
	cfg, _ := env.Load(getenv, env.Local)
	app, err := wire.Build(context.Background(), cfg, nil, wire.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), LocalQueue: true, Cloud: testCloud})
	if err != nil {
		b.Fatal(err)
	}
	defer app.Close()
	b.SetBytes(size)
	i := 0
	for b.Loop() {
		i++
		name, batch := fmt.Sprintf("files/out-b%d", i), fmt.Sprintf("batches/b%d", i)
		api.AddFile(geminitest.File{Name: name, Size: size, Seed: int64(i)})
		api.AddBatch(batch, geminitest.Batch{State: "BATCH_STATE_SUCCEEDED", OutputFile: name})
		ev, _ := core.ParseEvent(batchEvent("batch.succeeded", batch, name))
		ev.Delivery = core.Delivery{ID: "msg_" + batch}
		if err := app.Processing.Jobs.Process(context.Background(), ev); err != nil {
			b.Fatal(err)
		}
	}
}
