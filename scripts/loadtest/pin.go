package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// cpuSet is a set of CPU numbers, kept sorted.
type cpuSet []int

// parseCPUList reads taskset's list syntax: "1", "0-1", "0,2-3".
func parseCPUList(s string) (cpuSet, error) {
	var set cpuSet
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		if !isRange {
			hi = lo
		}
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil || a < 0 || b < a || b >= maxCPUs {
			return nil, fmt.Errorf("--pin %q: want CPU numbers or ranges such as 1, 0-1 or 0,2-3", s)
		}
		for c := a; c <= b; c++ {
			if !slices.Contains(set, c) {
				set = append(set, c)
			}
		}
	}
	slices.Sort(set)
	return set, nil
}

// maxCPUs bounds the affinity mask (1024 CPUs, glibc's cpu_set_t).
const maxCPUs = 1024

// without is s minus other.
func (s cpuSet) without(other cpuSet) cpuSet {
	var out cpuSet
	for _, c := range s {
		if !slices.Contains(other, c) {
			out = append(out, c)
		}
	}
	return out
}

func (s cpuSet) String() string {
	parts := make([]string, len(s))
	for i, c := range s {
		parts[i] = strconv.Itoa(c)
	}
	return strings.Join(parts, ",")
}

// pinPlan checks that the servers' CPUs are ours to use and picks the
// clients' CPUs: the others we may use, or the same ones (shared) when none
// is left.
func pinPlan(servers cpuSet) (clients cpuSet, shared bool, err error) {
	allowed, err := allowedCPUs()
	if err != nil {
		return nil, false, fmt.Errorf("--pin: pinning is not possible here: %w", err)
	}
	if missing := servers.without(allowed); len(missing) > 0 {
		return nil, false, fmt.Errorf("--pin %s: CPU %s is not among the CPUs this process may use (%s)", servers, missing, allowed)
	}
	if clients = allowed.without(servers); len(clients) == 0 {
		return servers, true, nil
	}
	return clients, false, nil
}
