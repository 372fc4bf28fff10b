// Package browser starts a headless Chromium for tests that drive a page
// from Go (chromedp), and keeps their screenshots where a person can find
// them. scripts/test.sh installs Debian's chromium (apt-get install -y
// chromium) when it is missing; a test that needs it fails, naming the
// fix, rather than skipping.
package browser

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// DefaultPath is where Debian's chromium package puts the browser; the
// CHROMIUM variable overrides it.
const DefaultPath = "/usr/bin/chromium"

// Path is the Chromium binary the tests run.
func Path() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	return DefaultPath
}

// Start starts a fresh headless Chromium (its own profile in a temporary
// folder, no network of its own: no QUIC, background networking,
// component updates or sync), width×height pixels, and returns the
// context to run chromedp actions in. The browser stops when the test ends.
func Start(t testing.TB, width, height int) context.Context {
	t.Helper()
	path := Path()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("no Chromium at %s (%v): scripts/test.sh installs it (apt-get install -y chromium, as root); set CHROMIUM to use another binary", path, err)
	}
	profile := t.TempDir() // removed after the browser has stopped (cleanups run last-in, first-out)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(width, height),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first Run starts the browser; it lives as long as ctx (a deadline
	// here would end the browser with it).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	return ctx
}

// ArtifactsDir is the folder a test's screenshots go to: $ARTIFACTS_DIR
// (CI keeps it) or the system's temporary folder, under
// gemini-webhooks-screenshots/<test name>. It is printed, and kept after
// the test.
func ArtifactsDir(t testing.TB) string {
	t.Helper()
	root := os.Getenv("ARTIFACTS_DIR")
	if root == "" {
		root = os.TempDir()
	}
	dir := filepath.Join(root, "gemini-webhooks-screenshots", strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots: %s", dir)
	return dir
}

// Screenshot saves the visible page as dir/name.png.
func Screenshot(ctx context.Context, t testing.TB, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Errorf("screenshot %s: %v", name, err)
	}
}
