package cli

import (
	"context"
	"fmt"
	"hash/crc32"
	"net"
	"strings"
	"sync"
	"testing"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// secretManager is a loopback stand-in for the Secret Manager gRPC service
// (no emulator exists): the four methods the CLI calls, with the real
// service's resource names, CRC32C check and "latest" alias.
type secretManager struct {
	secretmanagerpb.UnimplementedSecretManagerServiceServer
	mu       sync.Mutex
	secrets  map[string]bool     // projects/P/secrets/S
	versions map[string][][]byte // secret → payloads, version n at index n-1
	calls    []string
}

func startSecretManager(t *testing.T) (*secretManager, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sm := &secretManager{secrets: map[string]bool{}, versions: map[string][][]byte{}}
	srv := grpc.NewServer()
	secretmanagerpb.RegisterSecretManagerServiceServer(srv, sm)
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	return sm, l.Addr().String()
}

func (s *secretManager) record(call string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, call)
}

func (s *secretManager) GetSecret(_ context.Context, r *secretmanagerpb.GetSecretRequest) (*secretmanagerpb.Secret, error) {
	s.record("GetSecret")
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.secrets[r.Name] {
		return nil, status.Errorf(codes.NotFound, "Secret [%s] not found", r.Name)
	}
	return &secretmanagerpb.Secret{Name: r.Name}, nil
}

func (s *secretManager) CreateSecret(_ context.Context, r *secretmanagerpb.CreateSecretRequest) (*secretmanagerpb.Secret, error) {
	s.record("CreateSecret")
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.GetSecret().GetReplication() == nil {
		return nil, status.Error(codes.InvalidArgument, "replication is required")
	}
	name := r.Parent + "/secrets/" + r.SecretId
	if s.secrets[name] {
		return nil, status.Errorf(codes.AlreadyExists, "Secret [%s] already exists", name)
	}
	s.secrets[name] = true
	return &secretmanagerpb.Secret{Name: name}, nil
}

func (s *secretManager) AddSecretVersion(_ context.Context, r *secretmanagerpb.AddSecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	s.record("AddSecretVersion")
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.secrets[r.Parent] {
		return nil, status.Errorf(codes.NotFound, "Secret [%s] not found", r.Parent)
	}
	data := r.GetPayload().GetData()
	if c := r.GetPayload().DataCrc32C; c == nil || int64(crc32.Checksum(data, crc32c)) != *c {
		return nil, status.Error(codes.InvalidArgument, "data_crc32c missing or wrong")
	}
	s.versions[r.Parent] = append(s.versions[r.Parent], append([]byte(nil), data...))
	return &secretmanagerpb.SecretVersion{Name: fmt.Sprintf("%s/versions/%d", r.Parent, len(s.versions[r.Parent]))}, nil
}

func (s *secretManager) AccessSecretVersion(_ context.Context, r *secretmanagerpb.AccessSecretVersionRequest) (*secretmanagerpb.AccessSecretVersionResponse, error) {
	s.record("AccessSecretVersion")
	s.mu.Lock()
	defer s.mu.Unlock()
	secret, ok := strings.CutSuffix(r.Name, "/versions/latest")
	vs := s.versions[secret]
	if !ok || len(vs) == 0 {
		return nil, status.Errorf(codes.NotFound, "Secret Version [%s] not found", r.Name)
	}
	data := vs[len(vs)-1]
	crc := int64(crc32.Checksum(data, crc32c))
	return &secretmanagerpb.AccessSecretVersionResponse{
		Name:    fmt.Sprintf("%s/versions/%d", secret, len(vs)),
		Payload: &secretmanagerpb.SecretPayload{Data: data, DataCrc32C: &crc},
	}, nil
}

func (s *secretManager) payloads(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, v := range s.versions[name] {
		out = append(out, string(v))
	}
	return out
}

func TestGCPSecretManagerDestination(t *testing.T) {
	sm, host := startSecretManager(t)
	svc := newWebhookService(t)
	env := merge(svc.env(), map[string]string{"SECRETMANAGER_EMULATOR_HOST": host})
	const name = "projects/demo-project/secrets/gemini-webhook-signing-secret"
	dest := "gcp-secret:" + name

	r := mustOK(t, runCLI(t, env, "create", "--uri", "https://europe-west1-demo.cloudfunctions.net/GeminiWebhook",
		"--events", "batch.succeeded", "--secret-out", dest))
	id := svc.onlyID()
	first := svc.secrets(id)[0]
	assertNoLeak(t, first, r.stdout, r.stderr)
	if got := sm.payloads(name); len(got) != 1 || got[0] != first {
		t.Fatalf("after create Secret Manager holds %d versions; want 1 holding Gemini's secret", len(got))
	}

	mustOK(t, runCLI(t, env, "rotate", "--id", id, "--append", "--secret-out", dest))
	second := svc.secrets(id)[0]
	if got := sm.payloads(name); len(got) != 2 || got[1] != second+","+first {
		t.Fatalf(`after rotate --append the latest version must hold "new,old" (%d versions)`, len(got))
	}

	svc.expirePrevious(id)
	mustOK(t, runCLI(t, env, "finish-rotation", "--id", id, "--secret-out", dest))
	if got := sm.payloads(name); len(got) != 3 || got[2] != second {
		t.Fatalf("after finish-rotation the latest version must hold only the new secret (%d versions)", len(got))
	}

	sm.mu.Lock()
	calls := strings.Join(sm.calls, " ")
	sm.mu.Unlock()
	if want := "GetSecret CreateSecret AddSecretVersion GetSecret AccessSecretVersion AddSecretVersion GetSecret AccessSecretVersion AddSecretVersion"; calls != want {
		t.Fatalf("Secret Manager calls:\n got %s\nwant %s", calls, want)
	}

	// The plaintext override is refused for anything but loopback.
	before := svc.callCount()
	r = runCLI(t, merge(env, map[string]string{"SECRETMANAGER_EMULATOR_HOST": "secretmanager.example.com:443"}),
		"create", "--uri", "https://x.example.com/", "--events", "batch.failed", "--secret-out", dest)
	if r.code != exitUsage || !strings.Contains(r.stderr, "loopback") || svc.callCount() != before {
		t.Fatalf("non-loopback emulator host: %s", r)
	}
}
