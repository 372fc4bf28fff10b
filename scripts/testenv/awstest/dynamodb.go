package awstest

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
)

// DynamoDB is a DynamoDB client for the moto_server at motoURL.
func DynamoDB(motoURL string) *awsdynamodb.Client {
	return awsdynamodb.New(awsdynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(motoURL),
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
	})
}

var tableSeq atomic.Int64

// DynamoDBTable creates a table of its own for the test, as the store
// expects it (dynamodb.CreateTable), in the moto_server at motoURL; it is
// deleted when the test ends. It returns the table's name.
func DynamoDBTable(t testing.TB, motoURL string) string {
	t.Helper()
	client := DynamoDB(motoURL)
	name := fmt.Sprintf("test-%d-%d-%d", os.Getpid(), time.Now().UnixNano(), tableSeq.Add(1))
	if err := dynamodb.CreateTable(context.Background(), client, name); err != nil {
		t.Fatalf("create table: %v", err)
	}
	t.Cleanup(func() {
		client.DeleteTable(context.Background(), &awsdynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	return name
}
