// Command bare is the floor the bootstrap's cold start is compared with: a
// bare aws-lambda-go function that answers a Function URL event 200.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context, events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error) {
		return events.LambdaFunctionURLResponse{StatusCode: 200, Body: `{"outcome":"processed"}`}, nil
	})
}
