package main

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/geminiwebhooks/receiver/adapters/aws"
	"github.com/geminiwebhooks/receiver/adapters/dynamodb"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
)

// motoEnv points the AWS SDK of this process at moto (the commands read
// AWS_ENDPOINT_URL as a deployment's operator would set it for a local
// endpoint).
func motoEnv(t *testing.T, host string) {
	for k, v := range map[string]string{"AWS_ENDPOINT_URL": "http://" + host, "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
		"AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull, "AWS_EC2_METADATA_DISABLED": "true"} {
		t.Setenv(k, v)
	}
}

// newDynamoDBTable creates a table named from prefix in the DynamoDB the
// environment points at and returns the variables of a dynamodb store in it.
func newDynamoDBTable(t *testing.T, prefix string) map[string]string {
	t.Helper()
	ctx := context.Background()
	c, err := (&aws.Clients{}).DynamoDB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	table := fmt.Sprintf("%s-%d", prefix, os.Getpid())
	if err := dynamodb.CreateTable(ctx, c, table); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"IDEMPOTENCY_STORE": "dynamodb", "DYNAMODB_TABLE": table}
}

// startMoto starts moto_server for t (skipped with -short) and points the
// AWS SDK of this process at it (motoEnv).
func startMoto(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts moto_server")
	}
	moto, err := testenv.StartMoto(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(moto.Stop)
	motoEnv(t, moto.Host)
}

// dynamoDBTable starts moto_server for t and returns the variables of a
// dynamodb store in a table of its own, named from prefix.
func dynamoDBTable(t *testing.T, prefix string) map[string]string {
	t.Helper()
	startMoto(t)
	return newDynamoDBTable(t, prefix)
}

// TestOperatorCommandsDynamoDB: status, jobs and deadletters read DynamoDB
// (IDEMPOTENCY_STORE=dynamodb, on moto_server) as they read Firestore, with
// the same output; replay behaves as it does on Firestore.
func TestOperatorCommandsDynamoDB(t *testing.T) {
	vars := dynamoDBTable(t, "ops")
	getenv := func(k string) string { return vars[k] }
	seed(t, getenv)
	runSteps(t, getenv, append(readSteps(),
		opStep{"status names the table", []string{"status", "--deliveries", "none"}, 0, []string{"dynamodb table " + vars["DYNAMODB_TABLE"]}, nil},
		opStep{"replay, nowhere to go", []string{"deadletters", "replay", "msg_dead_event"}, 1, []string{"replay msg_dead_event: QUEUE and RECONCILE_URL are unset"}, nil},
		opStep{"replay, not an event", []string{"deadletters", "replay", "msg_dead_garbage"}, 1, []string{"replay msg_dead_garbage: it can never be processed"}, nil},
		opStep{"both are kept", []string{"deadletters", "list"}, 0, []string{"msg_dead_garbage", "msg_dead_event"}, nil},
	))
}

// TestReplayDynamoDB: a dead letter of the DynamoDB store, replayed with
// QUEUE=sqs:…, is run by the deployed Lambda worker exactly once
// (TestReplayRunsTheUsersHandlersInTheDeployedWorker's scenario), the
// claims and the dead letters in the table.
func TestReplayDynamoDB(t *testing.T) {
	vars := map[string]string{"IDEMPOTENCY_STORE": "dynamodb", "DYNAMODB_TABLE": fmt.Sprintf("replay-%d", os.Getpid())}
	replayInTheDeployedWorker(t, vars, "dynamodb", func(t *testing.T, ctx context.Context, vars map[string]string, mux *core.Mux) *liveWorker {
		lw := sqsWorker(t, ctx, vars, mux) // starts moto and points the SDK at it
		newDynamoDBTable(t, "replay")
		return lw
	})
}
