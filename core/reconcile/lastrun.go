package reconcile

import (
	"context"
	"time"
)

// LastRun is the summary of a finished run, kept where the operator's
// status command reads it: one write per run, never per delivery.
type LastRun struct {
	At       time.Time     `json:"at"`                 // when the run ended
	Took     time.Duration `json:"took_ns,omitempty"`  // how long it ran
	Seen     int           `json:"seen"`               // jobs listed or re-read
	Applied  int           `json:"applied"`            // fed through the pipeline
	Landed   int           `json:"landed,omitempty"`   // of those, with an output landed
	Failed   int           `json:"failed,omitempty"`   // jobs that could not be read or applied
	Problems int           `json:"problems,omitempty"` // webhooks' health problems
	CutOff   bool          `json:"cut_off,omitempty"`  // the run's time ran out first
	Error    string        `json:"error,omitempty"`    // what stopped the whole run
}

// RunLog keeps the newest run's summary (the bbolt file, Firestore).
type RunLog interface {
	PutLastRun(ctx context.Context, r LastRun) error
	// LastRun is the newest summary kept; nil when no run finished yet.
	LastRun(ctx context.Context) (*LastRun, error)
}

// maxRunError bounds the error kept with a run: status prints one line.
const maxRunError = 500

// lastRun is what Run keeps of itself.
func lastRun(s Summary, err error, at time.Time, took time.Duration) LastRun {
	r := LastRun{At: at, Took: took, Seen: s.Seen, Applied: s.Applied, Landed: s.Landed, Failed: s.Failed,
		Problems: len(s.Problems), CutOff: s.CutOff}
	if err != nil {
		r.Error = err.Error()
		if len(r.Error) > maxRunError {
			r.Error = r.Error[:maxRunError] + "…"
		}
	}
	return r
}

// runLogTimeout bounds the write of the summary: the run's own context may
// have ended (a cut-off run is still worth recording).
const runLogTimeout = 10 * time.Second

// keep writes the run's summary to c.Runs (a dry run changes nothing, so it
// is not kept); a failure is logged, never the run's.
func (c *Config) keep(ctx context.Context, r LastRun) {
	if c.Runs == nil || c.DryRun {
		return
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), runLogTimeout)
	defer cancel()
	if err := c.Runs.PutLastRun(wctx, r); err != nil {
		c.Logger.WarnContext(ctx, "reconcile: the run's summary was not kept", "source", "reconcile", "error", err.Error())
	}
}
