package jobs

import (
	"context"
	"time"
)

// Interactions reads an interaction's state through the Gemini API, so that
// an interaction's end is what the API says, not what an event says.
type Interactions interface {
	GetInteraction(ctx context.Context, name string) (InteractionStatus, error)
}

// InteractionStatus is what the Gemini API says about an interaction.
type InteractionStatus struct {
	Name         string
	APIState     string   // as the API names it, e.g. completed
	State        JobState // the ledger's name for it
	ErrorCode    string
	ErrorMessage string
}

// applyInteractionStatus records the API's answer about an interaction: its
// state moves forward as the API reports it, and a failed or cancelled one
// records why.
func applyInteractionStatus(existing *Job, st InteractionStatus, now time.Time) *Job {
	j := existing.Clone()
	if j == nil {
		j = &Job{ID: st.Name, Kind: "interaction", State: JobPending, FirstSeen: now}
	}
	j.UpdatedAt = now
	j.APIState = st.APIState
	if !j.moveTo(st.State, now, now) {
		return j
	}
	if j.State == JobFailed || j.State == JobCancelled {
		j.ErrorCode, j.ErrorMessage = st.ErrorCode, st.ErrorMessage
		if j.ErrorMessage == "" {
			j.ErrorMessage = "the Gemini API reports " + st.APIState
		}
	}
	return j
}
