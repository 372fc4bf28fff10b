package admin_test

import "github.com/geminiwebhooks/receiver/adapters/admin"

// Most modules run the command as a Go tool (go tool gemini-webhooks …)
// and need no code. A main of your own ships it under another name, with
// the same subcommands and environment:
//
//	go build -o gw ./cmd/gw && ./gw status
func ExampleMain() {
	admin.Main()
}
