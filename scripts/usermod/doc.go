// Package usermod holds the proof that a user's own module (made by the
// test in a temporary folder, requiring this checkout) runs its handlers on
// every runtime: under the Functions Framework (GeminiWebhook, and
// GeminiWorker behind the Pub/Sub emulator), under the Lambda Runtime
// Interface Emulator (Function URL events and an SQS batch), and as the
// local server. The user's module is scripts/testenv.WriteUserModule.
//
// On each of those runtimes the user's two agent tools answer a scripted
// conversation of the Gemini stand-in: two rounds of two calls each, each
// round's interaction.requires_action delivered under two ids at once and
// once more under the first (on Lambda the two queue: an instance takes
// one invocation at a time), then interaction.completed. From the user's
// own run log: every (interaction, call id) ran once, each round was
// continued once with its function_result steps, and the completed
// handler saw the conversation's first interaction.
//
// TestReadmeModule proves the README's "Your own module" section: it writes
// the module the section shows (go.mod, handlers, their tests written with
// adapters/webhooktest, the three entry points) into a temporary folder
// and runs each of the section's sh blocks as a subtest, as written, from
// the module's folder: go mod tidy, go build, go test; the Gemini API
// stand-in, the user's local server and the simulator, checking that what
// lands is what the section says; the section's typo example applied to a
// copy of the module, whose mains must exit 2 with the panic it shows;
// deploy.sh --dry-run --package (a fake gcloud on PATH), its staged source
// then built as the buildpack does (scripts/testenv.BuildStaged) and served;
// and sam build, stood in for by this test binary running the template's
// Makefile as SAM's makefile builder does (scripts/testenv.MakeAsSAM), its
// bootstrap then run under the Lambda RIE. On both clouds a signed
// batch.succeeded lands from the API stand-in and the user's handler runs
// once.
package usermod
