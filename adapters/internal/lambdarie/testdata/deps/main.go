// Command deps is the bare function (testdata/bare) that also links the
// clients the design names for the Lambda, Firestore, the Gemini API
// (genai) and the AWS SDK's configuration with the S3, SQS and Secrets
// Manager clients, and uses none: the part of a cold start that is their
// package initialisation, which no code of ours can avoid (its size is only
// a lower bound of theirs: the linker drops what nothing calls).
package main

import (
	"context"

	_ "cloud.google.com/go/firestore"
	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	_ "github.com/aws/aws-sdk-go-v2/config"
	_ "github.com/aws/aws-sdk-go-v2/service/s3"
	_ "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	_ "github.com/aws/aws-sdk-go-v2/service/sqs"
	_ "google.golang.org/genai"
)

func main() {
	lambda.Start(func(context.Context, events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error) {
		return events.LambdaFunctionURLResponse{StatusCode: 200, Body: `{"outcome":"processed"}`}, nil
	})
}
