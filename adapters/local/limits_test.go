package local

import (
	"net/http"
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
