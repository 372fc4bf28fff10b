package core

import (
	"fmt"
	"strings"
)

// maxJobIDLength bounds a job id: it becomes an API path and a ledger key.
const maxJobIDLength = 256

// collections are the resource-name prefixes of the kinds of job whose
// events may name them by a bare id.
var collections = map[string]string{"batch": "batches/", "interaction": "interactions/", "video": "files/"}

// NormalizeJobID turns the id an event of kind names (JobKind) into the
// resource name the job ledger and the Gemini API use. The guide's own
// envelope names a batch by its bare id ("batch_123456"), the API by its
// resource name ("batches/batch_123456"); both are accepted, and this is the
// one place the first becomes the second: an id without a "/" gets its
// kind's collection (batches/, interactions/, files/); anything else is kept
// as sent. It checks nothing: ValidJobID does, on the result.
func NormalizeJobID(kind, id string) string {
	if id == "" || strings.Contains(id, "/") {
		return id
	}
	if c, ok := collections[kind]; ok {
		return c + id
	}
	return id
}

// ValidJobID checks a job id (as NormalizeJobID gives it) before it is used
// as a ledger key or put into an API path. A batch is exactly
// batches/<[A-Za-z0-9_-]+>, an interaction exactly
// interactions/<[A-Za-z0-9_-]+>; other kinds are a path of 1 to 8 segments
// of [A-Za-z0-9._-] (model names hold dots, e.g.
// models/veo-3.0-generate/operations/x), none of them "." or "..", and they
// may not name a batch or an interaction. Anything else (a query, an
// escape, a traversal) is refused.
func ValidJobID(kind, id string) error {
	if id == "" || len(id) > maxJobIDLength {
		return fmt.Errorf("invalid %s id: empty or longer than %d bytes", kind, maxJobIDLength)
	}
	if kind == "batch" || kind == "interaction" {
		prefix := collections[kind]
		rest, ok := strings.CutPrefix(id, prefix)
		if !ok || !segmentOK(rest, false) {
			return fmt.Errorf("invalid %s id: want %s[A-Za-z0-9_-]+ or a bare [A-Za-z0-9_-]+", kind, prefix)
		}
		return nil
	}
	for _, other := range []string{"batches/", "interactions/"} {
		if strings.HasPrefix(id, other) {
			return fmt.Errorf("invalid %s id: names another kind of job", kind)
		}
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
