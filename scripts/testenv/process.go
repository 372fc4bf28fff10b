package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// ErrExited is StartProc's error when the process ended before it was ready.
var ErrExited = errors.New("exited before it was ready")

// ProcSpec describes a process of our own (a built receiver, a bare baseline
// server) that needs its own environment, working directory or stdout.
type ProcSpec struct {
	Name string
	// Argv and Env get the host (127.0.0.1:port) picked for the process.
	Argv func(host string) []string
	// Env is the whole environment (as exec.Cmd.Env); nil inherits ours.
	Env func(host string) []string
	Dir string
	// Stdout receives the process's standard output; nil sends it to the
	// service's log file with standard error.
	Stdout  io.Writer
	Ready   func(ctx context.Context, host string) error
	Timeout time.Duration
}

// StartProc starts spec in its own process group, like Start, and waits
// until spec.Ready succeeds. Stop ends the group.
func StartProc(ctx context.Context, spec ProcSpec) (*Service, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	host := fmt.Sprintf("127.0.0.1:%d", port)
	args := spec.Argv(host)
	logf, err := os.CreateTemp("", "testenv-"+spec.Name+"-*.log")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = spec.Dir
	if spec.Env != nil {
		cmd.Env = spec.Env(host)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if spec.Stdout != nil {
		cmd.Stdout = spec.Stdout
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		os.Remove(logf.Name())
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	exited := make(chan struct{})
	s := &Service{Name: spec.Name, Host: host, cmd: cmd, log: logf, exited: exited}
	go func() { _ = cmd.Wait(); close(exited) }()

	timeout := spec.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	deadline := time.Now().Add(timeout)
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := spec.Ready(cctx, host)
		cancel()
		if err == nil {
			return s, nil
		}
		select {
		case <-exited:
			out := s.LogText()
			s.Stop()
			return nil, fmt.Errorf("%s %w: %s", spec.Name, ErrExited, tail(out, 2000))
		default:
		}
		if time.Now().After(deadline) {
			out := s.LogText()
			s.Stop()
			return nil, fmt.Errorf("%s not ready after %s: %v; log: %s", spec.Name, timeout, err, tail(out, 2000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// HTTPAnswers is a readiness check for servers without a health route: any
// HTTP answer to GET / means the listener is up.
func HTTPAnswers(ctx context.Context, host string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// Pid is the process id of the service's leader process.
func (s *Service) Pid() int { return s.cmd.Process.Pid }

// LogText is what the service wrote to its log file so far (standard error,
// and standard output unless ProcSpec.Stdout took it).
func (s *Service) LogText() string {
	b, _ := os.ReadFile(s.log.Name())
	return string(b)
}
