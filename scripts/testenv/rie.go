package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// RIEModule is the AWS Lambda Runtime Interface Emulator scripts/test.sh installs.
const RIEModule = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d"

// FindRIE looks for the emulator on PATH, then in GOPATH/bin where
// scripts/test.sh installs it.
func FindRIE() (string, error) {
	if p, err := exec.LookPath("aws-lambda-rie"); err == nil {
		return p, nil
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			p := filepath.Join(dir, "bin", "aws-lambda-rie")
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("aws-lambda-rie not found on PATH or in GOPATH/bin; install it with: go install %s (scripts/test.sh does)", RIEModule)
}

// BuildBootstrap builds the Lambda main package in pkgDir as Lambda builds
// it (CGO_ENABLED=0, -tags lambda.norpc, -trimpath), for this machine so
// the emulator can run it, into dir/bootstrap.
func BuildBootstrap(ctx context.Context, pkgDir, dir string) (string, error) {
	out := filepath.Join(dir, "bootstrap")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-tags", "lambda.norpc", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = pkgDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build bootstrap in %s: %v\n%s", pkgDir, err, b)
	}
	return out, nil
}

// SyncBuffer collects a process's output while a test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String is what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// RIE is a bootstrap running under the Runtime Interface Emulator.
type RIE struct {
	Svc    *Service
	Stdout *SyncBuffer // the function's stdout (its log lines)
}

// StartRIE runs bootstrap under the emulator with env on top of a minimal
// Lambda environment (nothing else is inherited: the emulator passes its
// environment to the function). Stop ends it.
func StartRIE(ctx context.Context, bootstrap string, env map[string]string) (*RIE, error) {
	rieBin, err := FindRIE()
	if err != nil {
		return nil, err
	}
	apiPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "rie-tmp-")
	if err != nil {
		return nil, err
	}
	full := map[string]string{
		"PATH":                        os.Getenv("PATH"),
		"TMPDIR":                      tmp,
		"AWS_LAMBDA_FUNCTION_NAME":    "gemini-webhook",
		"AWS_LAMBDA_FUNCTION_TIMEOUT": "10",
		"AWS_REGION":                  "us-east-1",
		"AWS_ACCESS_KEY_ID":           "testing",
		"AWS_SECRET_ACCESS_KEY":       "testing",
	}
	for k, v := range env {
		full[k] = v
	}
	var envList []string
	for k, v := range full {
		envList = append(envList, k+"="+v)
	}
	out := &SyncBuffer{}
	svc, err := StartProc(ctx, ProcSpec{
		Name: "lambda-rie",
		Argv: func(host string) []string {
			return []string{rieBin,
				"--runtime-interface-emulator-address", host,
				"--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", apiPort),
				bootstrap}
		},
		Env:     func(string) []string { return envList },
		Dir:     filepath.Dir(bootstrap),
		Stdout:  out,
		Ready:   HTTPAnswers, // GET / is a 404: only the invoke route exists
		Timeout: 20 * time.Second,
	})
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	return &RIE{Svc: svc, Stdout: out}, nil
}

// Stop ends the emulator and the function.
func (r *RIE) Stop() { r.Svc.Stop() }

// Invoke posts one event to the emulator's invoke API and returns the
// function's answer.
func (r *RIE) Invoke(ctx context.Context, event any) ([]byte, error) {
	payload, err := json.Marshal(event)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+r.Svc.Host+"/2015-03-31/functions/function/invocations", bytes.NewReader(payload))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("invoke: %w", err), fmt.Errorf("stdout:\n%s\nstderr:\n%s", r.Stdout, r.Svc.LogText()))
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}
