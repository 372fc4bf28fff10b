package main

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/geminiwebhooks/receiver/adapters/dynamodb"
	"github.com/geminiwebhooks/receiver/adapters/env"
	"github.com/geminiwebhooks/receiver/adapters/wire"
)

var storeSeq atomic.Int64

// openStoreUnderTest makes a fresh place for store's records (a DynamoDB
// table on the package's moto_server, or a Firestore emulator project) and
// returns the environment that points a bootstrap at it, and its ledger as
// the test reads it.
func openStoreUnderTest(t testing.TB, store string) storeUnderTest {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("rie-%d-%d-%d", os.Getpid(), time.Now().UnixNano(), storeSeq.Add(1))
	switch store {
	case "dynamodb":
		client := motoDynamoDB()
		if err := dynamodb.CreateTable(ctx, client, name); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			client.DeleteTable(context.Background(), &awsdynamodb.DeleteTableInput{TableName: aws.String(name)})
		})
		s, err := dynamodb.New(ctx, dynamodb.Config{Table: name, Client: client})
		if err != nil {
			t.Fatal(err)
		}
		return storeUnderTest{
			env:    map[string]string{"IDEMPOTENCY_STORE": "dynamodb", "DYNAMODB_TABLE": name, "AWS_ENDPOINT_URL": motoURL},
			ledger: s.Ledger(),
		}
	case "firestore":
		os.Setenv("FIRESTORE_EMULATOR_HOST", firestoreHost) // the client reads it itself
		vars := map[string]string{"IDEMPOTENCY_STORE": "firestore", "FIRESTORE_EMULATOR_HOST": firestoreHost, "GOOGLE_CLOUD_PROJECT": name}
		cfg, err := env.Load(func(k string) string { return vars[k] }, env.Cloud)
		if err != nil {
			t.Fatal(err)
		}
		backend, err := wire.OpenBackend(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { backend.Close() })
		return storeUnderTest{env: vars, ledger: backend.Ledger}
	}
	t.Fatalf("no store %q", store)
	return storeUnderTest{}
}

// motoDynamoDB is a DynamoDB client of the package's moto_server.
func motoDynamoDB() *awsdynamodb.Client {
	return awsdynamodb.New(awsdynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(motoURL),
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
	})
}
