// Package testenv starts the real local services the tests run against
// (Firestore and Pub/Sub emulators, moto_server) on free loopback ports, and
// stops exactly what it started, by process group.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Service is one started process.
type Service struct {
	Name string
	Host string // 127.0.0.1:port
	cmd  *exec.Cmd
	log  *os.File
	// exited is closed once the leader process has been waited for.
	exited chan struct{}
	// shutdown, when set, asks the service to stop before its group is killed.
	shutdown func()
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start runs name args… in its own process group, logging to a temp file,
// and waits until ready(host) succeeds or timeout passes.
func Start(ctx context.Context, name string, timeout time.Duration, argv func(host string) []string, ready func(ctx context.Context, host string) error) (*Service, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	host := fmt.Sprintf("127.0.0.1:%d", port)
	args := argv(host)
	logf, err := os.CreateTemp("", "testenv-"+name+"-*.log")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	exited := make(chan struct{})
	s := &Service{Name: name, Host: host, cmd: cmd, log: logf, exited: exited}
	go func() { _ = cmd.Wait(); close(exited) }()

	deadline := time.Now().Add(timeout)
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := ready(cctx, host)
		cancel()
		if err == nil {
			return s, nil
		}
		select {
		case <-exited:
			out, _ := os.ReadFile(logf.Name())
			return nil, fmt.Errorf("%s exited before it was ready: %s", name, tail(string(out), 2000))
		default:
		}
		if time.Now().After(deadline) {
			s.Stop()
			out, _ := os.ReadFile(logf.Name())
			return nil, fmt.Errorf("%s not ready after %s: %v; log: %s", name, timeout, err, tail(string(out), 2000))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Stop ends the service's whole process group (gcloud wraps a Java process
// that outlives its parent otherwise).
func (s *Service) Stop() {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	if s.shutdown != nil {
		s.shutdown()
	}
	pgid := s.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		for i := 0; i < 50; i++ {
			if syscall.Kill(-pgid, 0) != nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		close(done)
	}()
	<-done
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	s.log.Close()
	os.Remove(s.log.Name())
}

// Kill ends the service's process group with SIGKILL, as a crash or the
// OOM killer would (nothing of it runs afterwards), unless its leader has
// exited already, and waits until it has. Stop does nothing after it.
func (s *Service) Kill() {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.exited: // its group id may belong to someone else now
	default:
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
	}
	s.cmd = nil
	s.log.Close()
	os.Remove(s.log.Name())
}

// Exited is closed when the service's leader process has exited.
func (s *Service) Exited() <-chan struct{} { return s.exited }

// Pause stops the service's processes without ending them (SIGSTOP), so
// calls to it hang or time out as in a real outage; Resume continues them.
func (s *Service) Pause() error  { return syscall.Kill(-s.cmd.Process.Pid, syscall.SIGSTOP) }
func (s *Service) Resume() error { return syscall.Kill(-s.cmd.Process.Pid, syscall.SIGCONT) }

// httpReady succeeds when GET url answers 200.
func httpReady(path string) func(ctx context.Context, host string) error {
	return func(ctx context.Context, host string) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
}

// StartFirestore starts `gcloud emulators firestore start` on a free port.
// Use a distinct project id per test: data is kept per project, so tests
// (and packages running in parallel) never see each other's documents.
func StartFirestore(ctx context.Context) (*Service, error) {
	if _, err := exec.LookPath("gcloud"); err != nil {
		return nil, errors.New("gcloud not found: the Firestore emulator is required (see scripts/test.sh)")
	}
	s, err := Start(ctx, "firestore", 90*time.Second, func(host string) []string {
		return []string{"gcloud", "emulators", "firestore", "start", "--host-port=" + host, "--quiet"}
	}, httpReady("/"))
	if err != nil {
		return nil, err
	}
	host := s.Host
	s.shutdown = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+host+"/shutdown", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	return s, nil
}

// ResetFirestore deletes every document of project in the emulator at host.
func ResetFirestore(ctx context.Context, host, project string) error {
	url := fmt.Sprintf("http://%s/emulator/v1/projects/%s/databases/(default)/documents", host, project)
	req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reset firestore: status %d", resp.StatusCode)
	}
	return nil
}

// StartPubSub starts `gcloud beta emulators pubsub start` on a free port.
func StartPubSub(ctx context.Context) (*Service, error) {
	if _, err := exec.LookPath("gcloud"); err != nil {
		return nil, errors.New("gcloud not found: the Pub/Sub emulator is required (see scripts/test.sh)")
	}
	return Start(ctx, "pubsub", 90*time.Second, func(host string) []string {
		return []string{"gcloud", "beta", "emulators", "pubsub", "start", "--host-port=" + host, "--quiet"}
	}, httpReady("/"))
}

// StartMoto starts moto_server (SQS, S3, Secrets Manager) on a free port.
func StartMoto(ctx context.Context) (*Service, error) {
	if _, err := exec.LookPath("moto_server"); err != nil {
		return nil, errors.New("moto_server not found (see scripts/test.sh)")
	}
	return Start(ctx, "moto", 60*time.Second, func(host string) []string {
		h, p, _ := net.SplitHostPort(host)
		return []string{"moto_server", "-H", h, "-p", p}
	}, httpReady("/moto-api/"))
}

// serialMoto runs moto_server's application with one request at a time.
// moto_server itself serves requests on threads without a lock around a
// DynamoDB conditional write, so under CPU load two conditional PutItems of
// one key can both succeed (seen: 5 keys in 1,500 with four writers each on
// a loaded machine), which DynamoDB itself never allows.
const serialMoto = `import sys
from werkzeug.serving import run_simple
from moto.server import DomainDispatcherApplication, create_backend_app
run_simple(sys.argv[1], int(sys.argv[2]), DomainDispatcherApplication(create_backend_app), threaded=False)
`

// StartMotoSerial starts moto's server as StartMoto does, but answering one
// request at a time, so that a conditional write is atomic as in DynamoDB:
// for the tests of exactly-once on DynamoDB. Not for SQS long polls, which
// would hold every other request while they wait.
func StartMotoSerial(ctx context.Context) (*Service, error) {
	if err := exec.CommandContext(ctx, "python3", "-c", "import moto.server, werkzeug.serving").Run(); err != nil {
		return nil, fmt.Errorf("python3 cannot import moto's server (see scripts/test.sh): %w", err)
	}
	return Start(ctx, "moto-serial", 60*time.Second, func(host string) []string {
		h, p, _ := net.SplitHostPort(host)
		return []string{"python3", "-c", serialMoto, h, p}
	}, httpReady("/moto-api/"))
}

// GoBuild builds the package pkg (a path relative to the module root, such
// as "./functions/local", testdata folders included) into dir and returns
// the binary's path.
func GoBuild(pkg, dir string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
	}
	return bin, nil
}

// RepoRoot finds the module root (the folder holding go.mod) above the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
