package dynamodb

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/geminiwebhooks/receiver/core/storetest"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
)

// moto is the moto_server every test of this package shares (motoURL);
// each test works in its own table.
var (
	moto    *testenv.Service
	motoURL string
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	svc, err := testenv.StartMotoSerial(ctx) // conditional writes atomic, as in DynamoDB
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "moto_server:", err)
		return 1
	}
	defer svc.Stop()
	moto, motoURL = svc, "http://"+svc.Host
	return m.Run()
}

// reqCounter counts the requests a client sends, by operation: every HTTP
// attempt, retries included (it sits after the SDK's retry middleware).
type reqCounter struct{ storetest.Calls }

func (r *reqCounter) middleware(stack *middleware.Stack) error {
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("countRequests",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			r.Add(awsmiddleware.GetOperationName(ctx))
			return next.HandleFinalize(ctx, in)
		}), middleware.After)
}

// take returns the requests since the last take.
func (r *reqCounter) take() (total int, byOperation string) { return r.Take() }

// newClient is a client of the shared moto_server, counting into rc when
// rc is not nil. Several clients of one table are like several Lambda
// instances.
func newClient(rc *reqCounter) *dynamodb.Client {
	o := dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(motoURL),
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
	}
	if rc != nil {
		o.APIOptions = append(o.APIOptions, rc.middleware)
	}
	return dynamodb.New(o)
}

var tableSeq atomic.Int64

// newTable creates a fresh table as TableInput describes it, with time to
// live on AttrTTL, and deletes it when t ends.
func newTable(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("deliveries-%d-%d", os.Getpid(), tableSeq.Add(1))
	if err := CreateTable(context.Background(), newClient(nil), name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		newClient(nil).DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	return name
}

// open opens a store on table with its own client (own caches): another
// instance sharing the records.
func open(t testing.TB, table string, rc *reqCounter) *Store {
	t.Helper()
	s, err := New(context.Background(), Config{Table: table, Client: newClient(rc)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The table as created has the key schema, the list index and TTL on AttrTTL.
func TestCreateTable(t *testing.T) {
	table := newTable(t)
	c := newClient(nil)
	ttl, err := c.DescribeTimeToLive(context.Background(), &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if d := ttl.TimeToLiveDescription; d == nil || aws.ToString(d.AttributeName) != AttrTTL || d.TimeToLiveStatus != types.TimeToLiveStatusEnabled {
		t.Fatalf("time to live: %+v", ttl.TimeToLiveDescription)
	}
	desc, err := c.DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(desc.Table.GlobalSecondaryIndexes); n != 1 || aws.ToString(desc.Table.GlobalSecondaryIndexes[0].IndexName) != ListIndex {
		t.Fatalf("indexes: %+v", desc.Table.GlobalSecondaryIndexes)
	}
	// Creating it again is refused, not silently accepted.
	if err := CreateTable(context.Background(), c, table); err == nil {
		t.Fatal("second CreateTable: no error")
	}
}
