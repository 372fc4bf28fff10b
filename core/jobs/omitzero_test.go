package jobs_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/core/jobs"
	"github.com/geminiwebhooks/receiver/core/tasks"
)

// What the admin commands print leaves unset times out (before:
// "0001-01-01T00:00:00Z" for every time not yet reached).
func TestZeroTimesLeftOut(t *testing.T) {
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		v    any
		want []string // present
	}{
		{"pending job", jobs.Job{ID: "batches/a", State: jobs.JobPending, FirstSeen: at, UpdatedAt: at}, []string{`"first_seen":"2026-12-01T12:00:00Z"`}},
		{"finished job", jobs.Job{ID: "batches/b", State: jobs.JobSucceeded, FirstSeen: at, UpdatedAt: at, FinishedAt: at, StateAt: at}, []string{`"finished_at":"2026-12-01T12:00:00Z"`, `"state_at"`}},
		{"notice not sent", jobs.Notice{DeliveryID: "d"}, []string{`"delivery_id":"d"`}},
		{"task due now", tasks.Task{ID: "msg_1", EnqueuedAt: at}, []string{`"enqueued_at"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := json.Marshal(c.v)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), "0001-01-01") {
				t.Errorf("a zero time is printed: %s", b)
			}
			for _, w := range c.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("%s lacks %s", b, w)
				}
			}
		})
	}
}
