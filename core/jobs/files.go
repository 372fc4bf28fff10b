package jobs

import (
	"context"
	"strings"
	"time"

	"github.com/geminiwebhooks/receiver/core/internal/text"
)

// Files reads a Files API file's metadata through the Gemini API, so that a
// generated video is what the API says, not what an event says.
type Files interface {
	StatFile(ctx context.Context, name string) (FileStatus, error)
}

// FileStatus is what the Gemini API says about a file.
type FileStatus struct {
	Name         string
	State        string // ACTIVE, PROCESSING, FAILED
	Origin       string // OriginGenerated, UPLOADED, …; "" when not said
	ContentType  string
	ErrorMessage string
}

// applyVideoStatus records the API's answer about a generated video's file:
// an active, generated video file makes the job succeeded and due for
// landing; a failed one makes it failed; a file that is not a generated
// video confirms nothing (the job stays as it was, its landing skipped with
// the reason); a file still processing changes nothing.
func applyVideoStatus(existing *Job, st FileStatus, now time.Time) *Job {
	j := existing.Clone()
	if j == nil {
		j = &Job{ID: st.Name, Kind: "video", State: JobPending, FirstSeen: now}
	}
	j.UpdatedAt = now
	j.APIState = st.State
	switch {
	case st.State == "FAILED":
		if j.moveTo(JobFailed, now, now) {
			j.ErrorMessage = st.ErrorMessage
			if j.ErrorMessage == "" {
				j.ErrorMessage = "the Gemini API reports the file FAILED"
			}
		}
	case st.State != "ACTIVE":
	case st.Origin != "" && st.Origin != OriginGenerated,
		st.ContentType != "" && !strings.HasPrefix(st.ContentType, "video/"):
		if j.Landing == LandingNone || j.Landing == LandingPending {
			j.Landing = LandingSkipped
			j.LandingError = "the Gemini API does not confirm " + j.Source + " as a generated video (" + text.Truncate(st.Origin, 32) + ", " + text.Truncate(st.ContentType, 64) + ")"
		}
	default:
		if j.moveTo(JobSucceeded, now, now) && j.Landing == LandingNone {
			j.Landing = LandingPending
		}
	}
	return j
}
