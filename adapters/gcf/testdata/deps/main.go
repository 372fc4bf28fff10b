// Command deps is the bare function (testdata/bare) that also links the
// clients the design names for GeminiWebhook, Firestore and the Gemini API
// (genai), and uses neither: the part of a cold start that is their package
// initialisation, which no code of ours can avoid.
package main

import (
	"log"
	"net/http"
	"os"

	_ "cloud.google.com/go/firestore"
	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
	"github.com/GoogleCloudPlatform/functions-framework-go/functions"
	_ "google.golang.org/genai"
)

func init() {
	functions.HTTP("GeminiWebhook", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"outcome":"processed"}`))
	})
}

func main() {
	if err := funcframework.StartHostPort("127.0.0.1", os.Getenv("PORT")); err != nil {
		log.Fatal(err)
	}
}
