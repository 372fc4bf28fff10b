package admin

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/env"
	"github.com/geminiwebhooks/receiver/adapters/wire"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/reconcile"
)

// Where status reads the deliveries of the last 24 h by outcome. None of
// them costs the receiver a round trip per delivery: the local server
// counts in memory and flushes hourly counts to its file; in the clouds the
// delivery log line itself is the count (CloudWatch EMF on Lambda, the
// log-based metric deploy.sh makes on Google Cloud).
const (
	sourceFile       = "file"
	sourceCloudWatch = "cloudwatch"
	sourceMonitoring = "monitoring"
	// sourceEmulator stands for "none": Firestore is an emulator, so no
	// cloud holds this receiver's metrics.
	sourceEmulator = "emulator"
)

// deliveryWindow is what "the last 24 h" covers.
const deliveryWindow = 24 * time.Hour

// sourceTimeout bounds each source, so one that hangs (credentials looked
// for on a metadata server that is not there) cannot stall status.
const sourceTimeout = 15 * time.Second

// outcomeOrder is the order outcomes are printed in: core's own.
var outcomeOrder = []core.Outcome{core.OutcomeProcessed, core.OutcomeQueued, core.OutcomeDuplicate, core.OutcomeRejected,
	core.OutcomeInProgress, core.OutcomeConflict, core.OutcomeFailed, core.OutcomeDeadLetter}

// deliveryCounts is one source's count, or why it has none.
type deliveryCounts struct {
	Source      string           `json:"source"`
	Where       string           `json:"where,omitempty"`
	ByOutcome   map[string]int64 `json:"by_outcome,omitempty"`
	Total       int64            `json:"total"`
	Unavailable string           `json:"not_available,omitempty"`
	Note        string           `json:"note,omitempty"`
}

// deliverySources are the sources --deliveries names; "auto" picks them
// from the environment: the file for the file store; CloudWatch for
// DynamoDB; with Firestore, the
// cloud(s) the environment points at (CloudWatch with an AWS region or an
// SQS queue; Cloud Monitoring with a Pub/Sub queue, or a project and no
// AWS region).
func deliverySources(flag string, cfg env.Config, getenv func(string) string) ([]string, error) {
	switch flag {
	case "none":
		return nil, nil
	case "", "auto":
		if cfg.IdempotencyStore == "file" {
			return []string{sourceFile}, nil
		}
		if cfg.FirestoreEmulatorHost != "" {
			return []string{sourceEmulator}, nil
		}
		if cfg.IdempotencyStore == "dynamodb" {
			return []string{sourceCloudWatch}, nil // only a Lambda writes it
		}
		aws := getenv("AWS_REGION") != "" || getenv("AWS_DEFAULT_REGION") != "" || cfg.QueueKind == env.QueueSQS
		var out []string
		if aws {
			out = append(out, sourceCloudWatch)
		}
		if cfg.QueueKind == env.QueuePubSub || cfg.GoogleCloudProject != "" && !aws {
			out = append(out, sourceMonitoring)
		}
		return out, nil
	}
	var out []string
	for _, s := range strings.Split(flag, ",") {
		switch s = strings.TrimSpace(s); s {
		case sourceFile, sourceCloudWatch, sourceMonitoring:
			out = append(out, s)
		default:
			return nil, usagef("--deliveries %q: want auto, none, or a list of file, cloudwatch, monitoring", flag)
		}
	}
	return out, nil
}

// countDeliveries asks each source; one that cannot answer says why in
// its row and never fails status.
func countDeliveries(ctx context.Context, x Extras, sources []string, cfg env.Config, getenv func(string) string, b *wire.Backend) []deliveryCounts {
	to := now()
	from := to.Add(-deliveryWindow)
	var out []deliveryCounts
	for _, src := range sources {
		sctx, cancel := context.WithTimeout(ctx, sourceTimeout)
		d := deliveryCounts{Source: src}
		var counts map[string]int64
		var err error
		switch src {
		case sourceFile:
			d.Where = "hourly counts in the state file"
			counts, err = fileDeliveries(sctx, b, from)
		case sourceCloudWatch, sourceMonitoring:
			if x.Deliveries == nil {
				err = errors.New("this binary does not read " + sourceNames[src] + ": use the gemini-webhooks command (go tool gemini-webhooks status)")
				break
			}
			counts, d.Where, err = x.Deliveries(sctx, src, cfg, getenv, from, to)
		case sourceEmulator:
			err = errors.New("FIRESTORE_EMULATOR_HOST is set: no cloud counts an emulator's deliveries (--deliveries cloudwatch or monitoring asks anyway)")
		}
		cancel()
		if err != nil {
			d.Unavailable = clip(err.Error(), 200)
		} else {
			d.ByOutcome = map[string]int64{}
			for k, n := range counts {
				if n != 0 {
					d.ByOutcome[k] = n
					d.Total += n
				}
			}
		}
		out = append(out, d)
	}
	return out
}

// fileDeliveries sums the local server's hourly counts: the 24 hours up to
// and including the current one (what was flushed; the running server
// adds its last seconds at its next flush).
func fileDeliveries(ctx context.Context, b *wire.Backend, from time.Time) (map[string]int64, error) {
	s, ok := b.Store.(interface {
		DeliveriesSince(context.Context, time.Time) (map[core.Outcome]int64, error)
	}) // the file, or the local server holding it
	if !ok {
		return nil, fmt.Errorf("the store is not the local file")
	}
	m, err := s.DeliveriesSince(ctx, from.Add(time.Hour))
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for k, n := range m {
		out[string(k)] = n
	}
	return out, nil
}

// byOutcome prints counts in core's order, then any other name; zeros are
// left out.
func byOutcome(m map[string]int64) string {
	var parts []string
	seen := map[string]bool{}
	for _, o := range outcomeOrder {
		seen[string(o)] = true
		if n := m[string(o)]; n != 0 {
			parts = append(parts, string(o)+" "+strconv.FormatInt(n, 10))
		}
	}
	var other []string
	for k, n := range m {
		if !seen[k] && n != 0 {
			other = append(other, k+" "+strconv.FormatInt(n, 10))
		}
	}
	sort.Strings(other)
	return orNone(strings.Join(append(parts, other...), ", "), "none")
}

// sourceNames are the sources as status names them.
var sourceNames = map[string]string{sourceFile: "file", sourceCloudWatch: "CloudWatch", sourceMonitoring: "Monitoring", sourceEmulator: "emulator"}

// deliveryRows are status's lines for the counts: one per source.
func deliveryRows(ds []deliveryCounts) [][]string {
	var rows [][]string
	for _, d := range ds {
		what := "deliveries 24h"
		if len(ds) > 1 || d.Source != sourceFile {
			what += " (" + sourceNames[d.Source] + ")"
		}
		val := byOutcome(d.ByOutcome)
		if d.Unavailable != "" {
			val = "not available: " + d.Unavailable
		}
		rows = append(rows, []string{what, val})
	}
	return rows
}

// lastReconcileView is the reconcile's last run as status shows it.
type lastReconcileView struct {
	At          time.Time `json:"at,omitzero"`
	TookMS      int64     `json:"took_ms,omitempty"`
	Listed      int       `json:"listed,omitempty"`
	Replayed    int       `json:"replayed,omitempty"`
	Landed      int       `json:"landed,omitempty"`
	Failed      int       `json:"failed,omitempty"`
	Problems    int       `json:"webhook_problems,omitempty"`
	CutOff      bool      `json:"cut_off,omitempty"`
	Error       string    `json:"error,omitempty"`
	Never       bool      `json:"never,omitempty"`
	Unavailable string    `json:"not_available,omitempty"`
}

// lastReconcile reads the run the store kept (one document or key).
func lastReconcile(ctx context.Context, b *wire.Backend) *lastReconcileView {
	rl, ok := b.Store.(reconcile.RunLog)
	if !ok {
		return &lastReconcileView{Unavailable: "the store keeps no reconcile runs"}
	}
	r, err := rl.LastRun(ctx)
	switch {
	case err != nil:
		return &lastReconcileView{Unavailable: clip(err.Error(), 200)}
	case r == nil:
		return &lastReconcileView{Never: true}
	}
	return &lastReconcileView{At: r.At, TookMS: r.Took.Milliseconds(), Listed: r.Seen, Replayed: r.Applied, Landed: r.Landed,
		Failed: r.Failed, Problems: r.Problems, CutOff: r.CutOff, Error: r.Error}
}

// String is the status line: "12m ago, 40 listed, 2 replayed", or "never".
func (v *lastReconcileView) String() string {
	switch {
	case v.Unavailable != "":
		return "not available: " + v.Unavailable
	case v.Never:
		return "never"
	}
	parts := []string{age(v.At), strconv.Itoa(v.Listed) + " listed", strconv.Itoa(v.Replayed) + " replayed"}
	if v.Landed > 0 {
		parts = append(parts, strconv.Itoa(v.Landed)+" landed")
	}
	if v.Failed > 0 {
		parts = append(parts, strconv.Itoa(v.Failed)+" failed")
	}
	if v.Problems > 0 {
		parts = append(parts, strconv.Itoa(v.Problems)+" webhook problems")
	}
	if v.CutOff {
		parts = append(parts, "cut off (the next run resumes)")
	}
	if v.Error != "" {
		parts = append(parts, "error: "+clip(v.Error, 120))
	}
	return strings.Join(parts, ", ")
}
