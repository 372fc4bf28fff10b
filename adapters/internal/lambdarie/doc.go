// Package lambdarie holds the tests that run functions/lambda, the Lambda's
// bootstrap as users deploy it, under the AWS Lambda Runtime Interface
// Emulator against the Firestore emulator and moto_server: deliveries, SQS
// batches, secrets by ARN, reconcile, logs and the cold-start benchmark. It
// lives under adapters/internal so those tests may use the adapters' own
// packages; it has no code of its own.
package lambdarie
