package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/geminiwebhooks/receiver/scripts/testenv"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// target is a server under load.
type target struct {
	name    string
	round   int
	url     string
	pid     int    // 0: not measured (an external server without --pid)
	logPath string // the local server's JSON log
	// processedPath is the local server's count of events processed.
	processedPath string
	stop          func() // ends the process
	cleanup       func() // removes its files
}

func newSecret() (string, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(key), nil
}

func standardWebhook(secret string) (*standardwebhooks.Webhook, error) {
	if secret == "" {
		return nil, fmt.Errorf("baseline: WEBHOOK_SIGNING_SECRET not set")
	}
	return standardwebhooks.NewWebhook(secret)
}

// buildLocal builds the local server once for the local targets:
// functions/local with a counter of processed events (scripts/loadtest/server).
func buildLocal(dir string) (string, error) {
	root, err := testenv.RepoRoot()
	if err != nil {
		return "", fmt.Errorf("run from inside the module: %w", err)
	}
	bin := filepath.Join(dir, "local")
	cmd := exec.Command("go", "build", "-o", bin, "./scripts/loadtest/server")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./scripts/loadtest/server: %w\n%s", err, out)
	}
	return bin, nil
}

// startTarget starts the named server in a process of its own, so its CPU
// time and RSS are its alone.
func startTarget(ctx context.Context, name string, round int, secret, localBin string, o options) (target, error) {
	dir, err := os.MkdirTemp("", "loadtest-"+name+"-*")
	if err != nil {
		return target{}, err
	}
	t := target{name: name, round: round, cleanup: func() { os.RemoveAll(dir) }}
	base := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "WEBHOOK_SIGNING_SECRET=" + secret}
	spec := testenv.ProcSpec{Name: name, Dir: dir, Ready: testenv.HTTPAnswers, Timeout: 30 * time.Second}
	switch name {
	case "baseline":
		self, err := os.Executable()
		if err != nil {
			return t, err
		}
		spec.Argv = func(host string) []string { return []string{self, "--serve-baseline", host} }
		spec.Env = func(string) []string { return base }
	case "memory", "file":
		log, err := os.Create(filepath.Join(dir, "log.jsonl"))
		if err != nil {
			return t, err
		}
		defer log.Close()
		t.logPath = log.Name()
		t.processedPath = filepath.Join(dir, "processed")
		spec.Stdout = log // the log line is part of the cost being measured
		spec.Argv = func(string) []string { return []string{localBin} }
		spec.Env = func(host string) []string {
			_, port, _ := strings.Cut(host, ":")
			env := append(base, "PORT="+port, "IDEMPOTENCY_STORE="+name, "LOADTEST_PROCESSED_FILE="+t.processedPath)
			if o.profileDir != "" {
				env = append(env, "LOADTEST_CPUPROFILE="+filepath.Join(o.profileDir, fmt.Sprintf("%s-%d.pprof", name, round)))
			}
			if name == "memory" {
				// Room for every delivery of the run: a full memory store
				// answers 503 (by design), which would end the measurement
				// of its memory before -n records are held.
				env = append(env, fmt.Sprintf("IDEMPOTENCY_MEMORY_LIMIT=%d", max(100000, 2*(o.warmup+o.requests))))
			}
			return env
		}
	}
	if o.pin != nil {
		argv, self := spec.Argv, ""
		if self, err = os.Executable(); err != nil {
			return t, err
		}
		spec.Argv = func(host string) []string {
			return append([]string{self, "--exec-pinned", "--pin", o.pin.String(), "--"}, argv(host)...)
		}
	}
	svc, err := testenv.StartProc(ctx, spec)
	if err != nil {
		t.cleanup()
		return t, err
	}
	t.url, t.pid, t.stop = "http://"+svc.Host+"/", svc.Pid(), svc.Stop
	return t, nil
}

// countOutcomes counts the delivery log lines by outcome.
func countOutcomes(path string) (map[string]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	n := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var l struct{ Msg, Outcome string }
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "delivery" {
			n[l.Outcome]++
		}
	}
	return n, sc.Err()
}
