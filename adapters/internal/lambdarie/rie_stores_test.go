package lambdarie

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/dynamodb"
	"github.com/geminiwebhooks/receiver/adapters/internal/env"
	"github.com/geminiwebhooks/receiver/adapters/internal/wire"
	"github.com/geminiwebhooks/receiver/scripts/testenv/awstest"
)

var storeSeq atomic.Int64

// openStoreUnderTest makes a fresh place for store's records (a DynamoDB
// table on the package's moto_server, or a Firestore emulator project) and
// returns the environment that points a bootstrap at it, and its ledger as
// the test reads it.
func openStoreUnderTest(t testing.TB, store string) storeUnderTest {
	t.Helper()
	ctx := context.Background()
	switch store {
	case "dynamodb":
		table := awstest.DynamoDBTable(t, dynamoURL)
		s, err := dynamodb.New(ctx, dynamodb.Config{Table: table, Client: awstest.DynamoDB(dynamoURL)})
		if err != nil {
			t.Fatal(err)
		}
		return storeUnderTest{
			env:    map[string]string{"IDEMPOTENCY_STORE": "dynamodb", "DYNAMODB_TABLE": table, "AWS_ENDPOINT_URL": dynamoURL},
			ledger: s.Ledger(),
		}
	case "firestore":
		os.Setenv("FIRESTORE_EMULATOR_HOST", firestoreHost) // the client reads it itself
		project := fmt.Sprintf("rie-%d-%d-%d", os.Getpid(), time.Now().UnixNano(), storeSeq.Add(1))
		vars := map[string]string{"IDEMPOTENCY_STORE": "firestore", "FIRESTORE_EMULATOR_HOST": firestoreHost, "GOOGLE_CLOUD_PROJECT": project}
		cfg, err := env.Load(func(k string) string { return vars[k] }, env.Serverless)
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
