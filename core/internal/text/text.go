// Package text holds the one string helper the core packages share:
// bounding a message (an error, a reason, a value from outside) before it
// goes into a log line, a record or another error.
package text

// Truncate cuts s to at most n bytes without splitting a UTF-8 sequence, so
// a bounded message stays valid UTF-8 in JSON logs and stored records.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
