package gcf_test

import (
	"context"

	"github.com/geminiwebhooks/receiver/adapters/gcf"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

// A user's package registers its handlers from init, as with
// functions.HTTP; deploy/gcp/deploy.sh deploys it as GeminiWebhook and
// GeminiWorker. Handlers run after the built-in actions: a batch's results
// have landed in RESULTS_SINK when saveResults runs.
func ExampleRegister() {
	saveResults := func(ctx context.Context, ev *core.Event) error {
		landed, err := jobs.Landed(ctx)
		if err != nil {
			return nil // nothing landed (no RESULTS_SINK): nothing to load
		}
		r, err := landed.Open(ctx)
		if err != nil {
			return err // retried
		}
		defer r.Close()
		// … stream r (landed.Manifest.Lines lines) into a database, keyed by ev.JobID().
		return nil
	}
	gcf.Register(core.NewMux().On(core.BatchSucceeded, saveResults))
}
