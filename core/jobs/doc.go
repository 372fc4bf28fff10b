// Package jobs is the receiver's built-in actions and what a handler reads
// from them. Every runtime (adapters/gcf, adapters/lambda, adapters/local)
// installs these actions on your core.Mux; they run before your handlers,
// once per verified delivery:
//
//   - the job ledger records each event against its job (Job, Ledger), so
//     a job's deliveries, state and outputs are known once, whatever order
//     Gemini's retries arrive in;
//   - a batch.succeeded (or any hint, whose body is not proven) is
//     confirmed with the Gemini API before anything acts on it;
//   - a finished batch's output, or a generated video, lands once in
//     RESULTS_SINK, streamed and checked (Manifest: bytes, lines, SHA-256);
//   - the agent tools registered with core.Mux.Tool answer an
//     interaction's function calls and continue it;
//   - notices (forward, Slack) are sent once per job.
//
// In a handler, JobOf(ctx) is the ledger's record of the job and
// Landed(ctx) what landed, to stream with Landing.Open; adapters/gemini
// reads its typed result lines:
//
//	func summarize(ctx context.Context, ev *core.Event) error {
//		landed, err := jobs.Landed(ctx)
//		if err != nil {
//			return err // wraps ErrNotLanded with the ledger's reason
//		}
//		r, err := landed.Open(ctx)
//		if err != nil {
//			return err
//		}
//		defer r.Close()
//		for line, err := range gemini.BatchLines(r) {
//			...
//		}
//		return nil
//	}
//
// The rest of the package (Config, New, the API and sink interfaces) is
// how the runtimes build these actions from the environment; a user's own
// composition may build them too, with New. MemoryLedger is the
// in-process Ledger; adapters/bolt and adapters/firestore keep it across
// processes, and core/jobs/ledgertest is the conformance suite they run.
package jobs
