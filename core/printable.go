package core

import (
	"fmt"
	"strings"
)

// maxLoggedID bounds what the log keeps of an unverified webhook-id.
const maxLoggedID = 64

// PrintableID makes an unverified header value safe for a log line: at most
// maxLoggedID bytes, every byte outside printable ASCII (controls, bidi
// overrides, any non-ASCII) escaped as \xHH, and the length kept when cut.
func PrintableID(s string) string {
	if s == "" {
		return ""
	}
	var b strings.Builder
	cut := s
	if len(cut) > maxLoggedID {
		cut = cut[:maxLoggedID]
	}
	for i := 0; i < len(cut); i++ {
		c := cut[i]
		if c < 0x21 || c > 0x7e || c == '\\' {
			fmt.Fprintf(&b, `\x%02x`, c)
			continue
		}
		b.WriteByte(c)
	}
	if len(s) > maxLoggedID {
		fmt.Fprintf(&b, "...(%d bytes)", len(s))
	}
	return b.String()
}
