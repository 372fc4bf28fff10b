package core

import (
	"fmt"
	"strings"
)

// maxJobIDLength bounds a job id: it becomes an API path and a ledger key.
const maxJobIDLength = 256

// ValidJobID checks a job id an event names before it is used as a ledger key
// or put into an API path. A batch is exactly batches/<[A-Za-z0-9_-]+>; other
// kinds are a path of 1 to 8 segments of [A-Za-z0-9._-] (model names hold
// dots, e.g. models/veo-3.0-generate/operations/x), none of them "." or "..",
// and they may not name a batch. Anything else (a query, an escape, a
// traversal) is refused.
func ValidJobID(kind, id string) error {
	if id == "" || len(id) > maxJobIDLength {
		return fmt.Errorf("invalid %s id: empty or longer than %d bytes", kind, maxJobIDLength)
	}
	if kind == "batch" {
		rest, ok := strings.CutPrefix(id, "batches/")
		if !ok || !segmentOK(rest, false) {
			return fmt.Errorf("invalid batch id: want batches/[A-Za-z0-9_-]+")
		}
		return nil
	}
	if strings.HasPrefix(id, "batches/") {
		return fmt.Errorf("invalid %s id: names a batch", kind)
	}
	segs := strings.Split(id, "/")
	if len(segs) > 8 {
		return fmt.Errorf("invalid %s id: more than 8 segments", kind)
	}
	for _, s := range segs {
		if !segmentOK(s, true) || s == "." || s == ".." {
			return fmt.Errorf("invalid %s id: want segments of [A-Za-z0-9._-]", kind)
		}
	}
	return nil
}

func segmentOK(s string, dots bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || dots && c == '.') {
			return false
		}
	}
	return true
}
