package local

// localHelp starts what -h prints (%[1]s: the binary's name): server mode
// and the environment; adapters/internal/admin adds the subcommands.
const localHelp = `usage: %[1]s                 serve (the default: no arguments)
       %[1]s COMMAND [options]  operate it (below; -h after a command for its options)

Server mode: the Gemini webhook receiver on 127.0.0.1:$PORT (8080). Each verified
delivery is claimed once in the state file, answered 202, and processed by the
embedded worker (job ledger, landing in RESULTS_SINK, your handlers); one JSON log
line per delivery goes to stdout. Without WEBHOOK_SIGNING_SECRET or WEBHOOK_AUDIENCE
a development secret is made once, kept in .gemini-webhooks/dev-secret, and the
simulator command to try it is printed. Stop with Ctrl-C.

Environment (README, Configuration; the main ones):
  WEBHOOK_SIGNING_SECRET   whsec_ secret(s), comma separated (static scheme)
  WEBHOOK_AUDIENCE         expected aud of dynamic tokens (dynamic scheme)
  PORT                     listen port on 127.0.0.1 [8080]
  STATE_PATH               the state file [.gemini-webhooks/state.db, relative to the working directory]
  IDEMPOTENCY_STORE        file, memory or firestore (with GOOGLE_CLOUD_PROJECT) [file]
  RESULTS_SINK             a folder, gs://BUCKET/PREFIX or s3://BUCKET/PREFIX [./results]
  GEMINI_API_KEY           confirm batches and download their output
  QUEUE                    pubsub:projects/P/topics/T or sqs:<queue URL> [the local queue]
  MAX_ATTEMPTS, RETRY_BACKOFF   worker tries before a dead letter, first wait [5, 2s]

`
