// Package sink lands job outputs where RESULTS_SINK says: a local folder,
// gs://bucket/prefix (Cloud Storage) or, later, s3://bucket/prefix. Every
// sink writes atomically: an object appears whole or not at all, and a
// retry replaces what an earlier attempt left instead of adding a copy.
package sink

import (
	"fmt"
	"strings"
)

// CopyBuffer is the size of the one buffer a landing streams through (every sink).
const CopyBuffer = 1 << 20

// CheckKey refuses keys that could leave a sink's root; every sink checks its keys with it.
func CheckKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, "\\") {
		return fmt.Errorf("sink: invalid key %q", key)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("sink: invalid key %q", key)
		}
	}
	return nil
}
