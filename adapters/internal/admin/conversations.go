package admin

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/geminiwebhooks/receiver/core/jobs"
)

// A tools conversation (core.Mux.Tool) keeps one ledger record per round:
// the first interaction's, then one per continuation, each later one
// naming the first in Job.Conversation and its number in Job.Round, and
// each answered one naming the next in Job.Continuation. The commands show
// it as one job: the first interaction's id, the last round's state, and
// the rounds, the tools run and their outcomes. The grouping is done here,
// on what the ledger lists, so it is the same through the running local
// server's admin listener as on the store itself.

// toolView is one function call of a round and its recorded outcome.
type toolView struct {
	CallID     string    `json:"call_id"`
	Name       string    `json:"name"`
	Outcome    string    `json:"outcome"` // "ok", or "error": sent to the model with is_error
	Result     string    `json:"result"`  // what was sent to the model
	DurationMS float64   `json:"duration_ms"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// roundView is one round (interaction) of a conversation.
type roundView struct {
	Round        int           `json:"round"`
	ID           string        `json:"id"`
	State        jobs.JobState `json:"state"`
	UpdatedAt    time.Time     `json:"updated_at,omitzero"`
	ErrorMessage string        `json:"error_message,omitempty"`
	Tools        []toolView    `json:"tools,omitempty"`
	Continuation string        `json:"continuation,omitempty"` // the interaction created with this round's results
}

// conversationKey is the id of the conversation j belongs to: its first
// interaction's (j's own for any other job).
func conversationKey(j jobs.Job) string {
	if j.Conversation != "" {
		return j.Conversation
	}
	return j.ID
}

// roundOf is j's round number in its conversation (the first has none
// recorded).
func roundOf(j jobs.Job) int { return max(j.Round, 1) }

// isConversation reports whether the records are a tools conversation
// rather than a job of one record.
func isConversation(rounds []jobs.Job) bool {
	return len(rounds) > 1 || len(rounds) == 1 && (rounds[0].Conversation != "" || rounds[0].Continuation != "" || len(rounds[0].ToolRuns) > 0)
}

// groupJobs groups the records of list by conversation, each group in
// round order; groups keep the order in which list first names them (the
// ledger lists the newest first, so a conversation stands where its
// latest round does).
func groupJobs(list []jobs.Job) [][]jobs.Job {
	at := map[string]int{}
	var groups [][]jobs.Job
	for _, j := range list {
		k := conversationKey(j)
		i, ok := at[k]
		if !ok {
			i = len(groups)
			at[k] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], j)
	}
	for _, g := range groups {
		sortRounds(g)
	}
	return groups
}

func sortRounds(g []jobs.Job) {
	slices.SortStableFunc(g, func(a, b jobs.Job) int { return roundOf(a) - roundOf(b) })
}

// complete reports whether g holds every round from the first to its last.
func complete(g []jobs.Job) bool {
	for i, j := range g {
		if roundOf(j) != i+1 {
			return false
		}
	}
	return true
}

// maxWalk bounds a walk along a conversation's continuations (a ledger
// whose links loop must not hang a command).
const maxWalk = 1000

// fillRounds reads the rounds of g's conversation that g lacks (a list cut
// by --limit, or a get given one round's id): it follows the continuations
// from the first interaction, one GetJob per round. g is returned in round
// order.
func fillRounds(ctx context.Context, l jobs.Ledger, g []jobs.Job) ([]jobs.Job, error) {
	if len(g) == 0 || complete(g) && g[len(g)-1].Continuation == "" {
		return g, nil
	}
	byID := map[string]jobs.Job{}
	for _, j := range g {
		byID[j.ID] = j
	}
	seen := map[string]bool{}
	id := conversationKey(g[0])
	for n := 0; id != "" && !seen[id] && n < maxWalk; n++ {
		seen[id] = true
		j, ok := byID[id]
		if !ok {
			r, err := l.GetJob(ctx, id)
			if err != nil {
				return nil, err
			}
			if r == nil {
				break
			}
			j = *r
			byID[id] = j
			g = append(g, j)
		}
		id = j.Continuation
	}
	sortRounds(g)
	return g, nil
}

// viewConversation is the job view of a group of records: a job's own
// view for a job of one record, or the conversation's: the first
// interaction's id, the last round's state, and the rounds and tools.
func viewConversation(g []jobs.Job, details bool) jobView {
	if !isConversation(g) {
		return viewJob(g[0])
	}
	last := g[len(g)-1]
	v := viewJob(last)
	v.ID, v.LastRound = conversationKey(g[0]), last.ID
	v.Rounds = max(roundOf(last), len(g))
	if last.Continuation != "" {
		// Continued, and the next round's record is not there yet: the
		// conversation goes on.
		v.State, v.Stuck, v.FinishedAt = jobs.JobRunning, false, time.Time{}
		v.Rounds++
	}
	v.Deliveries = nil
	for _, j := range g {
		if !j.FirstSeen.IsZero() && (v.FirstSeen.IsZero() || j.FirstSeen.Before(v.FirstSeen)) {
			v.FirstSeen = j.FirstSeen
		}
		if j.UpdatedAt.After(v.UpdatedAt) {
			v.UpdatedAt = j.UpdatedAt
		}
		if v.UserMetadata == nil {
			v.UserMetadata = j.UserMetadata
		}
		v.Deliveries = append(v.Deliveries, j.Deliveries...)
		r := roundView{Round: roundOf(j), ID: j.ID, State: j.State, UpdatedAt: j.UpdatedAt, ErrorMessage: j.ErrorMessage, Continuation: j.Continuation}
		for _, id := range slices.Sorted(maps.Keys(j.ToolRuns)) {
			t := j.ToolRuns[id]
			tv := toolView{CallID: id, Name: t.Name, Outcome: "ok", Result: t.Result, DurationMS: float64(t.Duration) / float64(time.Millisecond), FinishedAt: t.FinishedAt}
			if t.IsError {
				tv.Outcome = "error"
				v.ToolsFailed++
			}
			v.ToolsRun++
			r.Tools = append(r.Tools, tv)
		}
		if details {
			v.RoundDetails = append(v.RoundDetails, r)
		}
	}
	return v
}

// listConversations lists up to limit records (0: all) and groups them;
// the rounds a limit cut off are read one by one (fillRounds).
func listConversations(ctx context.Context, l jobs.Ledger, limit int) ([]jobView, error) {
	list, err := l.ListJobs(ctx, limit)
	if err != nil {
		return nil, err
	}
	groups := groupJobs(list)
	views := make([]jobView, 0, len(groups))
	for _, g := range groups {
		if limit > 0 && isConversation(g) {
			if g, err = fillRounds(ctx, l, g); err != nil {
				return nil, err
			}
		}
		views = append(views, viewConversation(g, false))
	}
	return views, nil
}

// getConversation is jobs get ID: the job, or the whole conversation of
// any of its rounds' ids.
func getConversation(ctx context.Context, l jobs.Ledger, id string) (*jobView, error) {
	j, err := l.GetJob(ctx, id)
	if err != nil || j == nil {
		return nil, err
	}
	g, err := fillRounds(ctx, l, []jobs.Job{*j})
	if err != nil {
		return nil, err
	}
	v := viewConversation(g, true)
	return &v, nil
}

// roundRows are the rows of a conversation's rounds: one per tool run (a
// round without tools has one of its own).
func roundRows(v jobView) [][]string {
	var rows [][]string
	for _, r := range v.RoundDetails {
		state := string(r.State)
		if r.ErrorMessage != "" {
			state += ": " + r.ErrorMessage
		}
		cont := orNone(r.Continuation, "-")
		if len(r.Tools) == 0 {
			rows = append(rows, []string{strconv.Itoa(r.Round), clip(r.ID, 60), clip(state, 60), "-", "-", "-", "-", clip(cont, 60)})
		}
		for _, t := range r.Tools {
			outcome := t.Outcome
			if t.Outcome != "ok" {
				outcome += ": " + t.Result
			}
			d := time.Duration(t.DurationMS * float64(time.Millisecond)).Round(time.Millisecond)
			rows = append(rows, []string{strconv.Itoa(r.Round), clip(r.ID, 60), clip(state, 60), clip(t.Name, 40), clip(t.CallID, 40), clip(outcome, 60), d.String(), clip(cont, 60)})
		}
	}
	return rows
}

// toolsCell is the TOOLS column: runs, and failures when there are some.
func toolsCell(v jobView) string {
	switch {
	case v.Rounds == 0:
		return "-"
	case v.ToolsFailed > 0:
		return fmt.Sprintf("%d (%d failed)", v.ToolsRun, v.ToolsFailed)
	}
	return strconv.Itoa(v.ToolsRun)
}
