package main

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"
)

// column is one figure of the report: how to read it from a measurement,
// how to print it, and whether a ratio to the baseline means something.
type column struct {
	head  string
	get   func(measurement) float64
	unit  string // printf verb for the value
	ratio bool
}

var (
	colReqPerSec = column{"req/s", measurement.reqPerSec, "%.0f", true}
	colCPU       = column{"server CPU µs/req", measurement.cpuPerReq, "%.1f", true}
	colP50       = column{"p50 ms", func(m measurement) float64 { return ms(m.p50) }, "%.2f", false}
	colP99       = column{"p99 ms", func(m measurement) float64 { return ms(m.p99) }, "%.2f", true}
	colPeakRSS   = column{"peak RSS MiB", func(m measurement) float64 { return mib(m.peakRSSKiB) }, "%.1f", true}
	colRSS       = column{"VmRSS MiB", func(m measurement) float64 { return mib(m.rssKiB) }, "%.1f", true}
	colHWM       = column{"VmHWM MiB", func(m measurement) float64 { return mib(m.peakRSSKiB) }, "%.1f", true}
	colAnon      = column{"RssAnon MiB", func(m measurement) float64 { return mib(m.anonKiB) }, "%.1f", true}
	colAccepted  = column{"accepted/s", measurement.acceptedPerSec, "%.0f", false}
	colProcessed = column{"processed/s", measurement.processedPerSec, "%.0f", false}
	colDrain     = column{"drain s", func(m measurement) float64 { return m.drain.Seconds() }, "%.2f", false}
	colCPUPerAcc = column{"server CPU µs/accepted", func(m measurement) float64 {
		return m.cpuPerReq() * float64(m.sent) / float64(max(m.accepted, 1))
	}, "%.1f", true}
	colClientCPU = column{"client CPU µs/req", measurement.clientCPUPerReq, "%.1f", false}
)

// modeColumns are each mode's figures, per round and in the median table.
var modeColumns = map[string][]column{
	"load":      {colReqPerSec, colCPU, colP50, colP99, colPeakRSS, colClientCPU},
	"processed": {colAccepted, colProcessed, colDrain, colCPUPerAcc},
	"rss":       {colRSS, colAnon, colHWM, colReqPerSec},
}

// report prints each round, then each target's medians with their ratios
// to the baseline's medians.
func report(out io.Writer, mode string, results []measurement) {
	cols := modeColumns[mode]
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "server\tround\tsent\tpushed back\tfailed\t")
	for _, c := range cols {
		fmt.Fprintf(tw, "%s\t", c.head)
	}
	fmt.Fprintln(tw)
	for _, m := range results {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t", m.name, m.round, m.sent, m.pushedBack, m.failed)
		for _, c := range cols {
			fmt.Fprintf(tw, c.unit+"\t", c.get(m))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()

	names, med := medians(results, cols)
	base, hasBase := med["baseline"]
	// The baseline does nothing after answering: its processed/s is its req/s.
	endToEnd := slices.IndexFunc(cols, func(c column) bool { return c.head == colProcessed.head })
	hasEndToEnd := endToEnd >= 0 && hasBase
	fmt.Fprintf(out, "\nmedian per server, × = ratio to the baseline's median\n")
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "server\trounds\t")
	for _, c := range cols {
		fmt.Fprintf(tw, "%s\t", c.head)
		if c.ratio && hasBase {
			fmt.Fprint(tw, "×\t")
		}
	}
	if hasEndToEnd {
		fmt.Fprint(tw, "processed/s ÷ baseline req/s\t")
	}
	fmt.Fprintln(tw)
	for _, name := range names {
		fmt.Fprintf(tw, "%s\t%d\t", name, rounds(results, name))
		for i, c := range cols {
			fmt.Fprintf(tw, c.unit+"\t", med[name][i])
			if c.ratio && hasBase {
				fmt.Fprintf(tw, "%s\t", ratio(med[name][i], base[i]))
			}
		}
		if hasEndToEnd {
			fmt.Fprintf(tw, "%s\t", ratio(med[name][endToEnd], base[endToEnd]))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	for _, m := range results {
		switch {
		case m.logPath == "":
		case m.logErr != nil:
			fmt.Fprintf(out, "%s round %d: log not read: %v\n", m.name, m.round, m.logErr)
		default:
			fmt.Fprintf(out, "%s round %d: delivery log lines by outcome, warm-up included: %v\n", m.name, m.round, m.logged)
		}
	}
}

// medians gives, per server in order of first appearance, the median of
// each column over its rounds.
func medians(results []measurement, cols []column) ([]string, map[string][]float64) {
	var names []string
	values := map[string][][]float64{} // server → column → rounds
	for _, m := range results {
		if _, ok := values[m.name]; !ok {
			names = append(names, m.name)
			values[m.name] = make([][]float64, len(cols))
		}
		for i, c := range cols {
			values[m.name][i] = append(values[m.name][i], c.get(m))
		}
	}
	med := map[string][]float64{}
	for _, name := range names {
		for _, v := range values[name] {
			med[name] = append(med[name], median(v))
		}
	}
	return names, med
}

// median of v: the middle value, or the mean of the middle two.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// ratio is a/b as "1.23×", or "n/a" when b is nothing to divide by (a
// figure that was not measured, such as CPU without a pid).
func ratio(a, b float64) string {
	if b <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func rounds(results []measurement, name string) int {
	n := 0
	for _, m := range results {
		if m.name == name {
			n++
		}
	}
	return n
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mib(kib int64) float64 { return float64(kib) / 1024 }
