package cli

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/geminiwebhooks/receiver/adapters/internal/env"
)

// gcpSink adds a Secret Manager version holding the value, creating the
// secret (automatic replication) if it does not exist yet.
type gcpSink struct {
	name   string // projects/P/secrets/S
	client *secretmanager.Client
	exists bool
}

var crc32c = crc32.MakeTable(crc32.Castagnoli)

func newGCPSink(ctx context.Context, getenv func(string) string, name string) (*gcpSink, error) {
	var opts []option.ClientOption
	adm, err := env.LoadAdmin(getenv)
	if err != nil {
		return nil, usagef("%v", err)
	}
	// SECRETMANAGER_EMULATOR_HOST: a test stand-in on a loopback address.
	if host := adm.SecretManagerEmulatorHost; host != "" {
		opts = append(opts,
			option.WithEndpoint(host),
			option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
		)
	}
	c, err := secretmanager.NewClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("secret manager client: %w", err)
	}
	return &gcpSink{name: name, client: c}, nil
}

func (s *gcpSink) Prepare(ctx context.Context, read bool) (string, error) {
	_, err := s.client.GetSecret(ctx, &secretmanagerpb.GetSecretRequest{Name: s.name})
	switch status.Code(err) {
	case codes.OK:
		s.exists = true
	case codes.NotFound:
		return "", nil // created by Put
	default:
		return "", err
	}
	if !read {
		return "", nil
	}
	v, err := s.client.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: s.name + "/versions/latest"})
	switch status.Code(err) {
	case codes.OK:
	case codes.NotFound, codes.FailedPrecondition:
		return "", nil // no version yet, or the latest is disabled or destroyed
	default:
		return "", err
	}
	data := v.GetPayload().GetData()
	if want := v.GetPayload().DataCrc32C; want != nil && int64(crc32.Checksum(data, crc32c)) != *want {
		return "", errors.New("latest version failed its CRC32C check")
	}
	return string(data), nil
}

func (s *gcpSink) Put(ctx context.Context, value string) error {
	if !s.exists {
		project, id, _ := strings.Cut(strings.TrimPrefix(s.name, "projects/"), "/secrets/")
		_, err := s.client.CreateSecret(ctx, &secretmanagerpb.CreateSecretRequest{
			Parent:   "projects/" + project,
			SecretId: id,
			Secret: &secretmanagerpb.Secret{
				Replication: &secretmanagerpb.Replication{
					Replication: &secretmanagerpb.Replication_Automatic_{Automatic: &secretmanagerpb.Replication_Automatic{}},
				},
				Labels: map[string]string{"managed-by": "gemini-webhooks"},
			},
		})
		if err != nil && status.Code(err) != codes.AlreadyExists {
			return err
		}
	}
	data := []byte(value)
	crc := int64(crc32.Checksum(data, crc32c))
	_, err := s.client.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{
		Parent:  s.name,
		Payload: &secretmanagerpb.SecretPayload{Data: data, DataCrc32C: &crc},
	})
	return err
}

func (s *gcpSink) Close() error { return s.client.Close() }
