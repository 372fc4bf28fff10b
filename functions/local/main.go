// Command local serves the Gemini webhook receiver on 127.0.0.1:$PORT with
// embedded defaults and no handlers of its own: the shortest user of
// adapters/local. `go run ./functions/local` needs nothing configured.
package main

import (
	"github.com/geminiwebhooks/receiver/adapters/local"
	"github.com/geminiwebhooks/receiver/core"
)

func main() { local.Main(core.NewMux()) }
