package gcf

import (
	"fmt"
	"log"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"

	"github.com/geminiwebhooks/receiver/adapters/internal/env"
)

// ServeLocal serves the functions registered in this process (Register's
// GeminiWebhook) on 127.0.0.1:$PORT (default 8080) through the Functions
// Framework, as the Cloud Functions Go buildpack's generated main does in
// production; FUNCTION_TARGET defaults to EntryPoint, so the function
// answers at / as deployed. It returns only when serving fails.
func ServeLocal() error {
	target, err := env.SetFunctionTarget(EntryPoint)
	if err != nil {
		return err
	}
	// The function reports its own configuration mistakes (at ERROR, and
	// 500 to each delivery); only PORT matters here.
	cfg, _ := env.Load(env.Getenv, env.Serverless)
	log.Printf("serving %s on http://127.0.0.1:%s", target, cfg.Port)
	if err := funcframework.StartHostPort("127.0.0.1", cfg.Port); err != nil {
		return fmt.Errorf("funcframework: %w", err)
	}
	return nil
}
