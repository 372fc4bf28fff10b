// Package lambda runs a mux as an AWS Lambda function. Start, called from
// the user's main (built as the bootstrap that deploy/aws deploys), is the
// whole API, the way aws-lambda-go's lambda.Start is:
//
//	func main() { lambda.Start(core.NewMux().On(core.BatchSucceeded, save)) }
//
// How it fits: the receiver is the same on every runtime (verify the
// signature, check the window, claim the delivery id, run the built-in
// actions and the mux's handlers, answer); this package only turns Lambda's
// events into it. One binary serves every event its function is wired to,
// dispatching on the event's shape (DetectKind): Gemini's deliveries through
// a Function URL or an HTTP API (payload format 2.0, bodies base64-decoded
// when Lambda encoded them), the SQS batches a receiver with QUEUE=sqs:…
// sends to its worker, and the scheduled reconcile. Configuration is the
// environment, read once in the init phase (signing secret and API key from
// Secrets Manager when their *_ARN variables name them); a bad one fails the
// init with the variable named. Each delivery and task writes one JSON line
// to stdout (NewLogger) that is also a CloudWatch embedded-metrics document
// (MetricsNamespace), so the metrics cost no client.
//
// A handler's own tests do not need Lambda: adapters/webhooktest runs the
// same receiver in-process.
package lambda
