// Package usermod holds the proof that a user's own module (made by the
// test in a temporary folder, requiring this checkout) runs its handlers on
// every runtime: under the Functions Framework (GeminiWebhook, and
// GeminiWorker behind the Pub/Sub emulator), under the Lambda Runtime
// Interface Emulator (Function URL events and an SQS batch), and as the
// local server. The user's module is scripts/testenv.WriteUserModule.
package usermod
