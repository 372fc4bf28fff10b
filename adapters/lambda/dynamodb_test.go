package lambda

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/geminiwebhooks/receiver/adapters/dynamodb"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

// The Lambda built from IDEMPOTENCY_STORE=dynamodb and DYNAMODB_TABLE (no
// Google Cloud project, no Firestore) keeps its claims and its job ledger
// in that table, reached through AWS_ENDPOINT_URL_DYNAMODB as the SDK reads
// it: a delivery and its retry are processed once, and the table says so.
func TestDynamoDBBackend(t *testing.T) {
	ctx := context.Background()
	client := awsdynamodb.New(awsdynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(motoURL),
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")})
	table := fmt.Sprintf("lambda-%d", os.Getpid())
	if err := dynamodb.CreateTable(ctx, client, table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.DeleteTable(ctx, &awsdynamodb.DeleteTableInput{TableName: aws.String(table)}) })
	for k, v := range map[string]string{"AWS_ENDPOINT_URL_DYNAMODB": motoURL, "AWS_REGION": "us-east-1",
		"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull} {
		t.Setenv(k, v)
	}
	vars := map[string]string{"IDEMPOTENCY_STORE": "dynamodb", "DYNAMODB_TABLE": table, "WEBHOOK_SIGNING_SECRET": testSecret}
	var processed atomic.Int32
	mux := core.NewMux().On(core.BatchSucceeded, func(context.Context, *core.Event) error { processed.Add(1); return nil })
	var logs bytes.Buffer
	inv, err := setup(ctx, func(k string) string { return vars[k] }, slog.New(slog.NewJSONHandler(&logs, nil)), mux)
	if err != nil {
		t.Fatal(err)
	}
	body := envelope("dyn")
	for i, want := range []core.Outcome{core.OutcomeProcessed, core.OutcomeDuplicate} {
		ts := time.Now().Add(time.Duration(i-1) * time.Second) // a retry carries a new timestamp
		payload, _ := json.Marshal(functionURLEvent("POST", signed(t, "msg_dynamo", ts, body), string(body), false))
		out, err := inv.Invoke(ctx, payload)
		if err != nil {
			t.Fatal(err)
		}
		var resp events.LambdaFunctionURLResponse
		_ = json.Unmarshal(out, &resp)
		if resp.StatusCode != 200 || !strings.Contains(resp.Body, string(want)) {
			t.Fatalf("delivery %d: %d %s, want 200 %s; log %s", i, resp.StatusCode, resp.Body, want, logs.String())
		}
	}
	if n := processed.Load(); n != 1 {
		t.Fatalf("processed %d times, want 1", n)
	}
	if !strings.Contains(logs.String(), `"store":"dynamodb"`) {
		t.Errorf("the init line does not name the store: %s", logs.String())
	}
	s, err := dynamodb.New(ctx, dynamodb.Config{Table: table, Client: client})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := s.Get(ctx, "msg_dynamo")
	if err != nil || rec == nil || rec.State != core.StateCompleted {
		t.Fatalf("record in the table: %+v, %v; want completed", rec, err)
	}
	j, err := s.Ledger().GetJob(ctx, "batches/dyn")
	if err != nil || j == nil || j.State != jobs.JobSucceeded {
		t.Fatalf("job in the table: %+v, %v; want succeeded", j, err)
	}
}
