// Package gemini is the receiver's client of the Gemini API and the typed
// reader of what a batch leaves behind.
//
// Client (New) reads what a webhook points at: a batch's state and output
// (google.golang.org/genai's Batches.Get and Files.Get), an interaction's
// pending function calls, and the output file itself, streamed. The SDK's
// Files.Download reads the whole file into memory, so the download is done
// here, with the SDK's own base URL, API version, key and HTTP client. The
// runtimes build one from GEMINI_API_KEY (and GOOGLE_GEMINI_BASE_URL); a
// handler rarely needs its own.
//
// What a handler does use: BatchLines reads a landed results file one typed
// line at a time in constant memory, and StartModelInteraction /
// StartAgentInteraction start a background interaction whose events come
// back to this receiver (Receiver):
//
//	landed, err := jobs.Landed(ctx)
//	r, err := landed.Open(ctx)
//	defer r.Close()
//	for line, err := range gemini.BatchLines(r) { … }
//
// Tests point Config.BaseURL at the loopback stand-in of
// adapters/gemini/geminitest.
package gemini
