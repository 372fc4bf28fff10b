// Package usermod holds the proof that a user's own module (made by the
// test in a temporary folder, requiring this checkout) runs its handlers on
// every runtime: under the Functions Framework (GeminiWebhook, and
// GeminiWorker behind the Pub/Sub emulator), under the Lambda Runtime
// Interface Emulator (Function URL events and an SQS batch), and as the
// local server. The user's module is scripts/testenv.WriteUserModule.
//
// TestReadmeModule proves the README's "Your own module" section: it writes
// the module the section shows (go.mod, handlers, their tests written with
// adapters/webhooktest, the three entry points) into a temporary folder
// and runs the section's commands as written: go mod tidy, go test, the
// Gemini API stand-in, the user's local server and the simulator, and
// checks that what lands is what the section says.
package usermod
