// Command gemini-webhooks manages Gemini API webhooks and operates the
// receiver (status, jobs, dead letters, replay); see its README.md or run it
// with --help. A user's module runs it as a tool: go get -tool
// github.com/geminiwebhooks/receiver/scripts/gemini-webhooks, then
// go tool gemini-webhooks status.
package main

import "github.com/geminiwebhooks/receiver/adapters/admin"

func main() { admin.Main() }
