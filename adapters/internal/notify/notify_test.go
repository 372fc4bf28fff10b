package notify_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/geminiwebhooks/receiver/adapters/internal/notify"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

func TestForwardRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct{ url, secret string }{
		{"https://example.test/hook", ""},
		{"https://example.test/hook", "whsec_"},
		{"https://example.test/hook", "not-a-secret"},
		{"ftp://example.test/hook", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		{"", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
	} {
		if _, err := notify.NewForward(tc.url, tc.secret, nil); err == nil {
			t.Errorf("NewForward(%q, %q) accepted", tc.url, tc.secret)
		}
	}
}

// Slack's URL is a credential: a failed post must not repeat it.
func TestSlackErrorsHideTheURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "invalid_token", http.StatusForbidden)
	}))
	defer srv.Close()
	job := &jobs.Job{ID: "batches/x", Kind: "batch", State: jobs.JobFailed, ErrorMessage: "boom"}
	ev := &core.Event{Type: core.BatchFailed}
	for _, u := range []string{srv.URL + "/services/T000/B000/SECRETPART", "http://127.0.0.1:1/services/T000/B000/SECRETPART"} {
		s, err := notify.NewSlack(u, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = s.Notify(context.Background(), jobs.Notification{Job: job, Event: ev})
		if err == nil || strings.Contains(err.Error(), "SECRETPART") {
			t.Errorf("error %v: want a failure that does not name the URL", err)
		}
	}
}

func TestSummary(t *testing.T) {
	j := &jobs.Job{ID: "batches/s", Kind: "batch", State: jobs.JobSucceeded, Landing: jobs.LandingLanded,
		Output: &jobs.Manifest{URI: "gs://b/batches/s/results.jsonl", Bytes: 10, Lines: 3, SucceededLines: 2, FailedLines: 1}}
	got := notify.Summary(j, &core.Event{Type: core.BatchSucceeded})
	for _, want := range []string{"batches/s", "succeeded", "gs://b/batches/s/results.jsonl", "2 succeeded, 1 failed"} {
		if !strings.Contains(got, want) {
			t.Errorf("summary %q lacks %q", got, want)
		}
	}
}
