package usermod_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/geminiwebhooks/receiver/adapters/dynamodb"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
)

// TestAdminCommandsDynamoDBFromTheUserModule: from the user's module
// folder, `go tool gemini-webhooks` status, jobs, deadletters and replay
// read a DynamoDB table (moto_server) named by IDEMPOTENCY_STORE=dynamodb
// and DYNAMODB_TABLE, the SDK pointed at it by AWS_ENDPOINT_URL_DYNAMODB as
// an operator points it at a local endpoint: no Google Cloud variable set.
func TestAdminCommandsDynamoDBFromTheUserModule(t *testing.T) {
	addAdminTool(t)
	ctx := context.Background()
	moto, err := testenv.StartMoto(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(moto.Stop)
	endpoint := "http://" + moto.Host
	client := awsdynamodb.New(awsdynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")})
	table := fmt.Sprintf("usermod-%d", os.Getpid())
	if err := dynamodb.CreateTable(ctx, client, table); err != nil {
		t.Fatal(err)
	}
	// What the deployed Lambda would have written.
	s, err := dynamodb.New(ctx, dynamodb.Config{Table: table, Client: client})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := s.Ledger().UpdateJob(ctx, "batches/U1", func(*jobs.Job) (*jobs.Job, error) {
		return &jobs.Job{Kind: "batch", State: jobs.JobSucceeded, FirstSeen: now.Add(-time.Hour), UpdatedAt: now}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutDeadLetter(ctx, core.DeadLetter{Key: "msg_U2", Scheme: core.SchemeStatic, Reason: "not JSON", Body: []byte(`{"type":`), ReceivedAt: now}); err != nil {
		t.Fatal(err)
	}
	env := []string{"IDEMPOTENCY_STORE=dynamodb", "DYNAMODB_TABLE=" + table, "AWS_ENDPOINT_URL_DYNAMODB=" + endpoint,
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing",
		"AWS_CONFIG_FILE=" + os.DevNull, "AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull, "AWS_EC2_METADATA_DISABLED=true"}
	for _, c := range []struct {
		args    []string
		wantErr bool
		want    []string
	}{
		{[]string{"status", "--deliveries", "none"}, false, []string{"dynamodb table " + table, "succeeded 1", "dead letters                  1"}},
		{[]string{"jobs", "list"}, false, []string{"ID", "STATE", "batches/U1", "succeeded"}},
		{[]string{"jobs", "get", "batches/U1", "--json"}, false, []string{`"state": "succeeded"`}},
		{[]string{"deadletters", "list"}, false, []string{"KEY", "msg_U2", "not JSON"}},
		{[]string{"deadletters", "replay", "msg_U2"}, true, []string{"replay msg_U2: it can never be processed"}},
	} {
		out, err := goIn(ctx, built.dir, env, append([]string{"tool", "gemini-webhooks"}, c.args...)...)
		if (err != nil) != c.wantErr {
			t.Errorf("go tool gemini-webhooks %s: %v, want failure %v\n%s", strings.Join(c.args, " "), err, c.wantErr, out)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("go tool gemini-webhooks %s lacks %q:\n%s", strings.Join(c.args, " "), w, out)
			}
		}
	}
}
