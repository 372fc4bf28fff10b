package jobs

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/geminiwebhooks/receiver/core"
)

// Ledger keeps one record per Gemini job (a batch, an interaction, a
// generated video), so that what happened to a job is known once, whatever
// the number and order of the deliveries that told us.
//
// UpdateJob is the one write: it reads the job's record (nil when absent),
// calls fn and, when fn returns a record, writes it, all as one atomic step.
// fn may run more than once (bbolt batches and Firestore transactions rerun
// it) so it must be pure: the rule functions below (ApplyEvent,
// ApplyBatchStatus, ClaimLanding, …) are. When fn returns an error nothing is
// written and UpdateJob returns it; when fn returns nil, nil nothing is
// written and UpdateJob returns the record as read.
//
// When UpdateJob returns, the write is durable and other writers see it,
// with one allowance a ledger may use (the local file store does, to commit
// it with the queued task's outcome): it may hold the write of the first
// call an attempt of a queued event makes until that attempt's next call,
// or its end. The actions are built for it: an event's first ledger step is
// its record (Record), and they call the ledger again before any effect
// outside it (a download, a notice, a tool run or continuation, and, for an
// event that ends its job, the user's handlers, which a reconcile may race).
type Ledger interface {
	UpdateJob(ctx context.Context, id string, fn func(*Job) (*Job, error)) (*Job, error)
	GetJob(ctx context.Context, id string) (*Job, error) // nil, nil when absent
	ListJobs(ctx context.Context, limit int) ([]Job, error)
}

// JobState is what the ledger knows of a job. States only move forward:
// pending < running (requires_action is a kind of running) < terminal, and a
// terminal state never changes, so a late or reordered delivery never takes
// a finished job back.
type JobState string

// The job states, in the order a job moves through them.
const (
	JobPending        JobState = "pending" // seen; its outcome is not known yet
	JobRunning        JobState = "running"
	JobRequiresAction JobState = "requires_action"
	JobSucceeded      JobState = "succeeded"
	JobFailed         JobState = "failed"
	JobCancelled      JobState = "cancelled"
	JobExpired        JobState = "expired"
)

func (s JobState) rank() int {
	switch s {
	case "", JobPending:
		return 0
	case JobRunning, JobRequiresAction:
		return 1
	}
	return 2
}

// Terminal reports whether s is final.
func (s JobState) Terminal() bool { return s.rank() == 2 }

// LandingState tracks the job's output on its way to RESULTS_SINK.
type LandingState string

const (
	LandingNone    LandingState = ""        // nothing to land (yet)
	LandingPending LandingState = "pending" // to be landed; LandingError says why an attempt failed
	LandingActive  LandingState = "landing" // LandingOwner is landing it until LandingLease
	LandingLanded  LandingState = "landed"  // Output says where
	LandingSkipped LandingState = "skipped" // not landed by configuration or because there is no output; LandingError says why
)

// MaxJobDeliveries bounds the delivery ids kept per job (the first ones).
const MaxJobDeliveries = 32

// Job is the ledger's record of one Gemini job.
type Job struct {
	ID         string    `json:"id"`   // batches/…, interactions/…, files/…
	Kind       string    `json:"kind"` // batch, interaction, video, other
	State      JobState  `json:"state"`
	StateAt    time.Time `json:"state_at,omitzero"`   // envelope time of the event that set State
	APIState   string    `json:"api_state,omitempty"` // the Gemini API's own state when it was last asked
	LastEvent  string    `json:"last_event,omitempty"`
	Events     []string  `json:"events,omitempty"` // event types seen, in arrival order, once each
	FirstSeen  time.Time `json:"first_seen"`
	UpdatedAt  time.Time `json:"updated_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"` // when the ledger saw it become terminal

	ErrorCode    string         `json:"error_code,omitempty"`
	ErrorMessage string         `json:"error_message,omitempty"`
	UserMetadata map[string]any `json:"user_metadata,omitempty"`
	Deliveries   []string       `json:"deliveries,omitempty"` // webhook ids seen, first MaxJobDeliveries

	Source          string       `json:"source,omitempty"` // the output: files/…, gs://…, or "inline"
	Landing         LandingState `json:"landing,omitempty"`
	LandingOwner    string       `json:"landing_owner,omitempty"`
	LandingLease    time.Time    `json:"landing_lease,omitzero"`
	LandingAttempts int          `json:"landing_attempts,omitempty"`
	LandingError    string       `json:"landing_error,omitempty"`
	Output          *Manifest    `json:"output,omitempty"`
	ManifestURI     string       `json:"manifest_uri,omitempty"`

	Notices map[string]Notice `json:"notices,omitempty"` // by notifier:event_type

	// An interaction answered by the tools of core.Mux.Tool (tools.go).
	// Conversation is the id of the conversation's first interaction, set
	// on the records of the later rounds; Round is this interaction's round
	// (0: not a tools conversation's, or its first); ToolRuns holds each
	// function call's recorded outcome, by call id; Continuation is the
	// interaction created to send them back.
	Conversation string             `json:"conversation,omitempty"`
	Round        int                `json:"round,omitempty"`
	ToolRuns     map[string]ToolRun `json:"tool_runs,omitempty"`
	Continuation string             `json:"continuation,omitempty"`
}

// ToolRun is the recorded outcome of one function call: what is sent back
// to the model, whatever delivery or instance sends it.
type ToolRun struct {
	Name       string        `json:"name"`
	Result     string        `json:"result"`
	IsError    bool          `json:"is_error,omitempty"`
	Duration   time.Duration `json:"duration,omitempty"`
	FinishedAt time.Time     `json:"finished_at"`
}

// Notice records a notification: the delivery id it carries is fixed before
// the first attempt, so a resend after a crash carries the same id.
type Notice struct {
	DeliveryID string    `json:"delivery_id"`
	SentAt     time.Time `json:"sent_at,omitzero"` // zero until sent
}

// Manifest describes a landed output; it is written beside it and kept in
// the ledger.
type Manifest struct {
	JobID          string    `json:"job_id"`
	Source         string    `json:"source"`
	URI            string    `json:"uri"`
	ContentType    string    `json:"content_type,omitempty"`
	Bytes          int64     `json:"bytes"`
	SHA256         string    `json:"sha256"`
	Lines          int64     `json:"lines"`
	SucceededLines int64     `json:"succeeded_lines"`
	FailedLines    int64     `json:"failed_lines"`
	LandedAt       time.Time `json:"landed_at"`
}

// Clone returns a deep copy, so rule functions never change what they read.
func (j *Job) Clone() *Job {
	if j == nil {
		return nil
	}
	c := *j
	c.Events = slices.Clone(j.Events)
	c.Deliveries = slices.Clone(j.Deliveries)
	c.UserMetadata = maps.Clone(j.UserMetadata)
	c.Notices = maps.Clone(j.Notices)
	c.ToolRuns = maps.Clone(j.ToolRuns)
	if j.Output != nil {
		o := *j.Output
		c.Output = &o
	}
	return &c
}

// eventState is the state an event reports; "" when it reports none
// (batch.succeeded waits for the API, unknown types report nothing).
func eventState(t string) JobState {
	switch t {
	case core.BatchFailed, core.InteractionFailed:
		return JobFailed
	case core.BatchCancelled, core.InteractionCancelled:
		return JobCancelled
	case core.BatchExpired:
		return JobExpired
	case core.InteractionRequiresAction:
		return JobRequiresAction
	case core.InteractionCompleted, core.VideoGenerated:
		return JobSucceeded
	}
	return ""
}

// moveTo applies a state change if it goes forward: to a higher rank, or
// between the two running states when at is not older than what set the
// current one. It reports whether the state changed.
func (j *Job) moveTo(s JobState, at, now time.Time) bool {
	if s == "" || s == j.State {
		return false
	}
	cur, next := j.State.rank(), s.rank()
	if cur == 2 || next < cur || (next == cur && at.Before(j.StateAt)) {
		return false
	}
	j.State, j.StateAt = s, at
	if s.Terminal() {
		j.FinishedAt = now
	}
	return true
}

// ApplyEvent folds one delivery into the job's record (nil when new). It
// never takes a terminal job back; the delivery and event type are still
// recorded.
func ApplyEvent(existing *Job, ev *core.Event, now time.Time) *Job {
	j := recordEvent(existing, ev, now)
	at := ev.Time()
	if at.IsZero() {
		at = now
	}
	if j.moveTo(eventState(ev.Type), at, now) && j.State == JobFailed {
		j.ErrorCode, j.ErrorMessage = string(ev.Data.ErrorCode), ev.Data.ErrorMessage
	}
	if ev.Type == core.VideoGenerated && j.State == JobSucceeded && j.Landing == LandingNone {
		j.Landing = LandingPending
	}
	return j
}

// recordEvent folds the delivery into the record without taking a state
// from it: for a job whose state the Gemini API confirms.
func recordEvent(existing *Job, ev *core.Event, now time.Time) *Job {
	j := existing.Clone()
	if j == nil {
		j = &Job{ID: ev.JobID(), Kind: core.JobKind(ev.Type), State: JobPending, FirstSeen: now}
	}
	j.UpdatedAt = now
	j.LastEvent = ev.Type
	if !slices.Contains(j.Events, ev.Type) {
		j.Events = append(j.Events, ev.Type)
	}
	if id := ev.Delivery.ID; id != "" && !slices.Contains(j.Deliveries, id) && len(j.Deliveries) < MaxJobDeliveries {
		j.Deliveries = append(j.Deliveries, id)
	}
	if j.UserMetadata == nil && len(ev.UserMetadata) > 0 {
		j.UserMetadata = maps.Clone(ev.UserMetadata)
	}
	// A batch's output comes from the API alone (ApplyBatchStatus): the
	// event's output_file_uri could name any file or bucket. A video's
	// file is what the event names; the fetch asks the API about it.
	if ev.Type == core.VideoGenerated && j.Source == "" {
		j.Source = videoSource(ev)
	}
	return j
}

// videoSource is the Files API name of a generated video.
func videoSource(ev *core.Event) string {
	for _, s := range []string{ev.Data.FileID, ev.Data.FileName, ev.Data.VideoURI, ev.Data.OutputFileURI} {
		if name := FileName(s); name != "" {
			return name
		}
	}
	return ""
}

// FileName extracts a Files API name ("files/abc") from a name, a bare id
// or a Gemini download URL; "" when s names no file.
func FileName(s string) string {
	if s == "" || strings.HasPrefix(s, "gs://") {
		return ""
	}
	if i := strings.Index(s, "files/"); i >= 0 {
		s = s[i+len("files/"):]
	} else if strings.Contains(s, "/") {
		return ""
	}
	end := strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-')
	})
	if end >= 0 {
		s = s[:end]
	}
	if s == "" {
		return ""
	}
	return "files/" + s
}

// BatchStatus is what the Gemini API says about a batch.
type BatchStatus struct {
	Name     string
	APIState string   // as the API names it, e.g. JOB_STATE_SUCCEEDED
	State    JobState // the ledger's name for it
	// OutputFile is the output's Files API name or gs:// URI; Inline holds
	// the responses of a batch made of inlined requests, as JSON lines.
	OutputFile   string
	Inline       []byte
	ErrorCode    string
	ErrorMessage string
}

// ApplyBatchStatus records the API's answer. A succeeded batch gets its
// output location from the API (which wins over the event's) and is due for
// landing; a failed, cancelled or expired one records why.
func ApplyBatchStatus(existing *Job, st BatchStatus, now time.Time) *Job {
	j := existing.Clone()
	if j == nil {
		j = &Job{ID: st.Name, Kind: "batch", State: JobPending, FirstSeen: now}
	}
	j.UpdatedAt = now
	j.APIState = st.APIState
	if !j.moveTo(st.State, now, now) {
		return j
	}
	switch j.State {
	case JobSucceeded:
		j.Source = "" // only what the API names for this batch lands
		switch {
		case st.OutputFile != "":
			j.Source = st.OutputFile
		case st.Inline != nil:
			j.Source = SourceInline
		}
		if j.Landing == LandingNone {
			j.Landing = LandingPending
		}
	case JobFailed, JobCancelled, JobExpired:
		j.ErrorCode, j.ErrorMessage = st.ErrorCode, st.ErrorMessage
		if j.ErrorMessage == "" {
			j.ErrorMessage = "the Gemini API reports " + st.APIState
		}
	}
	return j
}

// SourceInline marks a batch whose responses came inside the API's answer.
const SourceInline = "inline"

// LandingVerdict is ClaimLanding's answer.
type LandingVerdict int

const (
	LandingClaimed   LandingVerdict = iota + 1 // land it now, as the owner
	LandingDone                                // already landed: nothing to do
	LandingBusy                                // another owner holds a live lease
	LandingNotNeeded                           // nothing to land
)

// ClaimLanding makes owner the one who lands the job's output until
// leaseUntil, unless it is landed already or another owner's lease is live.
// A crashed owner's lease runs out and the next claimant redoes the work.
func ClaimLanding(existing *Job, owner string, now, leaseUntil time.Time) (LandingVerdict, *Job) {
	if existing == nil {
		return LandingNotNeeded, nil
	}
	switch existing.Landing {
	case LandingLanded:
		return LandingDone, nil
	case LandingNone, LandingSkipped:
		return LandingNotNeeded, nil
	case LandingActive:
		if existing.LandingOwner != owner && existing.LandingLease.After(now) {
			return LandingBusy, nil
		}
	}
	j := existing.Clone()
	j.Landing, j.LandingOwner, j.LandingLease = LandingActive, owner, leaseUntil
	j.LandingAttempts++
	j.UpdatedAt = now
	return LandingClaimed, j
}

// RenewLanding extends owner's lease; ErrNotOwner once someone else holds it.
func RenewLanding(existing *Job, owner string, now, leaseUntil time.Time) (*Job, error) {
	if !holdsLanding(existing, owner) {
		return nil, core.ErrNotOwner
	}
	j := existing.Clone()
	j.LandingLease, j.UpdatedAt = leaseUntil, now
	return j, nil
}

// FinishLanding records the landed output; only the lease holder may.
func FinishLanding(existing *Job, owner string, m Manifest, manifestURI string, now time.Time) (*Job, error) {
	if !holdsLanding(existing, owner) {
		return nil, core.ErrNotOwner
	}
	j := existing.Clone()
	j.Landing, j.LandingOwner, j.LandingLease, j.LandingError = LandingLanded, "", time.Time{}, ""
	j.Output, j.ManifestURI = &m, manifestURI
	j.UpdatedAt = now
	return j, nil
}

// ReleaseLanding gives the landing back after a failed attempt, keeping why.
func ReleaseLanding(existing *Job, owner, reason string, now time.Time) (*Job, error) {
	if !holdsLanding(existing, owner) {
		return nil, core.ErrNotOwner
	}
	j := existing.Clone()
	j.Landing, j.LandingOwner, j.LandingLease, j.LandingError = LandingPending, "", time.Time{}, reason
	j.UpdatedAt = now
	return j, nil
}

// SkipLanding records that the output will not be landed, and why.
func SkipLanding(existing *Job, reason string, now time.Time) *Job {
	if existing == nil || existing.Landing == LandingLanded || existing.Landing == LandingActive {
		return nil
	}
	j := existing.Clone()
	j.Landing, j.LandingError, j.UpdatedAt = LandingSkipped, reason, now
	return j
}

func holdsLanding(j *Job, owner string) bool {
	return j != nil && j.Landing == LandingActive && j.LandingOwner == owner
}

// startNotice fixes the delivery id a notification carries, the first time
// only; sentNotice records it sent.
func startNotice(existing *Job, key, deliveryID string, now time.Time) *Job {
	if existing == nil {
		return nil
	}
	if _, ok := existing.Notices[key]; ok {
		return nil
	}
	j := existing.Clone()
	if j.Notices == nil {
		j.Notices = make(map[string]Notice)
	}
	j.Notices[key] = Notice{DeliveryID: deliveryID}
	j.UpdatedAt = now
	return j
}

// sentNotice records the notice key as sent at now.
func sentNotice(existing *Job, key string, now time.Time) *Job {
	if existing == nil {
		return nil
	}
	n, ok := existing.Notices[key]
	if !ok || !n.SentAt.IsZero() {
		return nil
	}
	j := existing.Clone()
	n.SentAt = now
	j.Notices[key] = n
	j.UpdatedAt = now
	return j
}
