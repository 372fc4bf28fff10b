package main

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/geminiwebhooks/receiver/scripts/testenv"
)

// A configuration mistake stops the local server with exit status 2 and a
// message naming every wrong variable (never a secret's value), before it
// listens or writes anything.
func TestConfigMistakeExits2(t *testing.T) {
	dir := t.TempDir()
	bin, err := testenv.GoBuild("./functions/local", dir)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "IDEMPOTENCY_STORE=redis", "RESULTS_SINK=ftp://x", "WEBHOOK_SIGNING_SECRET=whsec_c2hvcnQ="}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("exit: %v, want status 2\n%s", err, out)
	}
	for _, name := range []string{"IDEMPOTENCY_STORE", "RESULTS_SINK", "WEBHOOK_SIGNING_SECRET"} {
		if !strings.Contains(string(out), name) {
			t.Errorf("the message does not name %s:\n%s", name, out)
		}
	}
	if strings.Contains(string(out), "c2hvcnQ") {
		t.Errorf("the message shows the secret's value:\n%s", out)
	}
}
