// Command serve runs GeminiWebhook locally through the Functions Framework,
// as the Cloud Functions Go buildpack's generated main does in production:
// same registration, same framework, same handler. It listens on
// 127.0.0.1:$PORT (default 8080) and FUNCTION_TARGET defaults to
// GeminiWebhook. The configuration is production's (IDEMPOTENCY_STORE
// defaults to firestore): set FIRESTORE_EMULATOR_HOST, or
// IDEMPOTENCY_STORE=memory, to run without Google Cloud.
//
//	WEBHOOK_SIGNING_SECRET=whsec_… IDEMPOTENCY_STORE=memory go run ./functions/gcp/serve
package main

import (
	"log"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"

	"github.com/geminiwebhooks/receiver/adapters/gcf"
	_ "github.com/geminiwebhooks/receiver/functions/gcp"
)

func main() {
	target, port, err := gcf.LocalTarget()
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("serving %s on http://127.0.0.1:%s", target, port)
	if err := funcframework.StartHostPort("127.0.0.1", port); err != nil {
		log.Fatalf("funcframework: %v", err)
	}
}
