package env

import (
	"io/fs"
	"testing"

	"github.com/geminiwebhooks/receiver/core"
)

func TestMemoryStoreLimitScalesWithMemory(t *testing.T) {
	files := func(m map[string]string) func(string) ([]byte, error) {
		return func(p string) ([]byte, error) {
			if s, ok := m[p]; ok {
				return []byte(s), nil
			}
			return nil, fs.ErrNotExist
		}
	}
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  int64
	}{
		{"cgroup limit", map[string]string{"/sys/fs/cgroup/memory.max": "536870912\n", "/proc/meminfo": "MemTotal:       25165824 kB\n"}, 512 << 20},
		{"no cgroup limit: the machine", map[string]string{"/sys/fs/cgroup/memory.max": "max\n", "/proc/meminfo": "MemFree: 1 kB\nMemTotal:       25165824 kB\n"}, 24 << 30},
		{"nothing readable", nil, 0},
	} {
		if got := availableMemory(files(tc.files)); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	for _, tc := range []struct {
		available int64
		want      int
	}{
		{0, core.DefaultMemoryStoreLimit},
		{512 << 20, core.DefaultMemoryStoreLimit}, // a quarter of 512 MiB holds 65,536: keep the floor
		{24 << 30, 3_145_728},
	} {
		if got := memoryStoreLimit(tc.available); got != tc.want {
			t.Errorf("%d bytes: %d records, want %d", tc.available, got, tc.want)
		}
	}
	if MemoryStoreLimit() < core.DefaultMemoryStoreLimit {
		t.Error("below the floor")
	}
}
