package env

import (
	"bufio"
	"bytes"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/geminiwebhooks/receiver/core"
)

// memoryRecordBytes is what one delivery costs a memory store and its job
// ledger together, with the garbage collector's headroom: about 250 B of
// live heap for the record (BenchmarkMemoryStoreBytesPerRecord) and a few
// hundred for a job, doubled.
const memoryRecordBytes = 2048

// MemoryStoreLimit is the default of IDEMPOTENCY_MEMORY_LIMIT: as many
// records as fit in a quarter of the memory this process may use
// (GOMEMLIMIT, else the cgroup's memory.max, else the machine's memory),
// and never fewer than core.DefaultMemoryStoreLimit. So the bound scales
// with the machine: it refuses a delivery (503, retried) only where the
// alternative would be running out of memory and losing every record.
func MemoryStoreLimit() int {
	return memoryStoreLimit(availableMemory(os.ReadFile))
}

func memoryStoreLimit(available int64) int {
	n := available / 4 / memoryRecordBytes
	if n < core.DefaultMemoryStoreLimit {
		return core.DefaultMemoryStoreLimit
	}
	return int(min(n, math.MaxInt32))
}

// availableMemory is the memory this process may use, 0 when unknown.
func availableMemory(read func(string) ([]byte, error)) int64 {
	if l := debug.SetMemoryLimit(-1); l > 0 && l < math.MaxInt64 {
		return l
	}
	if b, err := read("/sys/fs/cgroup/memory.max"); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 {
			return n // "max": no cgroup limit, fall through
		}
	}
	if b, err := read("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
				if kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64); err == nil {
					return kb << 10
				}
			}
		}
	}
	return 0
}
