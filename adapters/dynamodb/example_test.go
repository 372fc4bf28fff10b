package dynamodb_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/geminiwebhooks/receiver/adapters/dynamodb"
	"github.com/geminiwebhooks/receiver/core"
)

// The table the store expects, as CreateTable makes it and the SAM
// template declares it.
func ExampleTableInput() {
	in := dynamodb.TableInput("gemini-webhooks")
	fmt.Println("billing:", in.BillingMode)
	for _, k := range in.KeySchema {
		fmt.Println("key:", aws.ToString(k.AttributeName), k.KeyType)
	}
	for _, ix := range in.GlobalSecondaryIndexes {
		fmt.Println("index:", aws.ToString(ix.IndexName), aws.ToString(ix.KeySchema[0].AttributeName), aws.ToString(ix.KeySchema[1].AttributeName), ix.Projection.ProjectionType)
	}
	fmt.Println("time to live on:", dynamodb.AttrTTL)
	// Output:
	// billing: PAY_PER_REQUEST
	// key: pk HASH
	// key: sk RANGE
	// index: list lpk lsk KEYS_ONLY
	// time to live on: expiration
}

// A receiver of your own on the store: a delivery is claimed (one
// conditional PutItem), processed and completed (one UpdateItem). It needs
// a table (CreateTable) and AWS credentials, so it is compiled, not run;
// TestRoundTrips runs the same against moto_server.
func ExampleNew() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx) // honours AWS_ENDPOINT_URL_DYNAMODB
	if err != nil {
		log.Fatal(err)
	}
	store, err := dynamodb.New(ctx, dynamodb.Config{Table: "gemini-webhooks", Client: awsdynamodb.NewFromConfig(cfg)})
	if err != nil {
		log.Fatal(err)
	}
	now := time.Now()
	c := core.Claim{Key: "msg_2zVd1", Owner: "this-attempt", BodyHash: core.HashBody([]byte(`{"type":"batch.succeeded"}`)),
		Now: now, LeaseUntil: now.Add(30 * time.Second)}
	verdict, err := store.Claim(ctx, c)
	if err != nil {
		log.Fatal(err) // the store could not answer: 503, Gemini retries
	}
	if verdict == core.Claimed {
		// ... process the delivery ...
		if err := store.Complete(ctx, c, now.Add(core.DefaultTTL)); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println(verdict)
}
