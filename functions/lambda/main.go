// Command lambda is the AWS Lambda entry point with no handlers of its own:
// the `bootstrap` of a provided.al2023 function (arm64, CGO_ENABLED=0,
// -tags lambda.norpc), and the shortest user of adapters/lambda. One binary
// serves Function URL / HTTP API deliveries and SQS batches.
package main

import (
	"github.com/geminiwebhooks/receiver/adapters/lambda"
	"github.com/geminiwebhooks/receiver/core"
)

func main() { lambda.Start(core.NewMux()) }
