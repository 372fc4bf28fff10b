package local

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// Issue 13, finding 2: every timeout an unauthenticated peer could stretch is
// set (the old server had no IdleTimeout: idle keep-alive connections were
// kept forever), and connections are bounded.
func TestServerBoundsPeers(t *testing.T) {
	srv := newServer(http.NotFoundHandler())
	tests := []struct {
		name     string
		got, max time.Duration
	}{
		{"ReadHeaderTimeout", srv.ReadHeaderTimeout, 10 * time.Second},
		{"ReadTimeout", srv.ReadTimeout, time.Minute},
		{"WriteTimeout", srv.WriteTimeout, 5 * time.Minute},
		{"IdleTimeout", srv.IdleTimeout, time.Minute},
	}
	for _, tc := range tests {
		if tc.got <= 0 || tc.got > tc.max {
			t.Errorf("%s = %s, want in (0, %s]", tc.name, tc.got, tc.max)
		}
	}
	if srv.MaxHeaderBytes <= 0 || srv.MaxHeaderBytes > 1<<20 {
		t.Errorf("MaxHeaderBytes = %d", srv.MaxHeaderBytes)
	}
	if maxConns <= 0 || maxConns > 4096 {
		t.Errorf("maxConns = %d", maxConns)
	}
}

// Issue 13, finding 11: the development secret is announced by its file, never by its value.
func TestDevSecretNotPrinted(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	for _, created := range []bool{true, false} {
		var b strings.Builder
		announceDevSecret(&b, secret, created, "8080")
		out := b.String()
		if strings.Contains(out, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") {
			t.Errorf("created=%v: the secret was printed: %q", created, out)
		}
		if !strings.Contains(out, devSecretPath) {
			t.Errorf("created=%v: the secret's file is not named: %q", created, out)
		}
	}
}
