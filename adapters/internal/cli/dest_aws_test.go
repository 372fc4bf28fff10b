package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/geminiwebhooks/receiver/scripts/testenv"
)

// TestAWSSecretsManagerDestination runs the real binary against moto_server:
// create makes the secret, rotate --append and finish-rotation put new versions.
func TestAWSSecretsManagerDestination(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	moto, err := testenv.StartMoto(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(moto.Stop)
	awsEnv := map[string]string{
		"AWS_ENDPOINT_URL":      "http://" + moto.Host,
		"AWS_ACCESS_KEY_ID":     "test",
		"AWS_SECRET_ACCESS_KEY": "test",
		"AWS_REGION":            "us-east-1",
	}
	sm := secretsmanager.New(secretsmanager.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String("http://" + moto.Host),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	stored := func(name string) string {
		t.Helper()
		out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
		if err != nil {
			t.Fatalf("read %s back from moto: %v", name, err)
		}
		return aws.ToString(out.SecretString)
	}

	svc := newWebhookService(t)
	env := merge(svc.env(), awsEnv)
	const name = "gemini/webhook-signing-secret"
	dest := "aws-secret:" + name

	r := mustOK(t, runBinary(t, env, "create", "--uri", "https://abc.lambda-url.us-east-1.on.aws/", "--events", "batch.succeeded,batch.failed", "--secret-out", dest))
	id := svc.onlyID()
	first := svc.secrets(id)[0]
	if stored(name) != first {
		t.Fatal("Secrets Manager does not hold the secret Gemini returned")
	}
	assertNoLeak(t, first, r.stdout, r.stderr)

	r = mustOK(t, runBinary(t, env, "rotate", "--id", id, "--append", "--secret-out", dest))
	second := svc.secrets(id)[0]
	if got := stored(name); got != second+","+first {
		t.Fatalf(`after rotate --append Secrets Manager must hold "new,old" (got %d entries)`, strings.Count(got, ",")+1)
	}
	assertNoLeak(t, second, r.stdout, r.stderr)

	svc.expirePrevious(id)
	mustOK(t, runBinary(t, env, "finish-rotation", "--id", id, "--secret-out", dest))
	if stored(name) != second {
		t.Fatal("after finish-rotation Secrets Manager must hold only the new secret")
	}
	versions, err := sm.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(name), IncludeDeprecated: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if len(versions.Versions) < 2 {
		t.Fatalf("want CreateSecret then PutSecretValue versions, moto lists %d", len(versions.Versions))
	}

	// A region is required, and missing it is bad input found before any call.
	calls := svc.callCount()
	noRegion := merge(env, map[string]string{"AWS_REGION": ""})
	r = runBinary(t, noRegion, "create", "--uri", "https://x.example.com/", "--events", "batch.failed", "--secret-out", dest)
	if r.code != exitUsage || !strings.Contains(r.stderr, "AWS_REGION") || svc.callCount() != calls {
		t.Fatalf("without a region: %s", r)
	}
}
