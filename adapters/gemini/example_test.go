package gemini_test

import (
	"context"
	"fmt"

	"github.com/geminiwebhooks/receiver/adapters/gemini"
	"github.com/geminiwebhooks/receiver/adapters/gemini/geminitest"
)

// The client confirms what a webhook says with the Gemini API. The
// receiver builds one from GEMINI_API_KEY; build one yourself to look a
// batch up from your own code. Here it talks to the loopback stand-in of
// the API (geminitest) instead of generativelanguage.googleapis.com.
func ExampleNew() {
	api := geminitest.New("my-key")
	defer api.Close()
	api.AddFile(geminitest.File{Name: "files/batch-out", MIMEType: "application/jsonl", Size: 4096, Seed: 1})
	api.AddBatch("batches/nightly", geminitest.Batch{State: "BATCH_STATE_SUCCEEDED", OutputFile: "files/batch-out"})

	ctx := context.Background()
	c, err := gemini.New(ctx, gemini.Config{APIKey: "my-key", BaseURL: api.URL})
	if err != nil {
		panic(err)
	}
	b, err := c.GetBatch(ctx, "batches/nightly")
	if err != nil {
		panic(err)
	}
	fmt.Println(b.Name, b.State, b.OutputFile)
	f, err := c.StatFile(ctx, b.OutputFile)
	fmt.Println(f.Name, f.State, f.Origin, err)
	_, err = c.GetBatch(ctx, "batches/never-made")
	fmt.Println(err != nil)
	// Output:
	// batches/nightly succeeded files/batch-out
	// files/batch-out ACTIVE GENERATED <nil>
	// true
}
