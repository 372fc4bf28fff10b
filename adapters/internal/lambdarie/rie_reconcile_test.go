package lambdarie

import (
	"encoding/json"
	"testing"

	"github.com/geminiwebhooks/receiver/adapters/gemini/geminitest"
	"github.com/geminiwebhooks/receiver/core/reconcile"
)

// The bootstrap under the RIE answers an EventBridge Scheduler event (the
// input deploy/aws/template.yaml gives its schedule) with one reconcile:
// the finished batches no webhook delivered are applied once; the next
// scheduled run applies nothing.
func TestBootstrapReconcilesOnScheduleUnderRIE(t *testing.T) {
	api := geminitest.New("k")
	defer api.Close()
	api.AddBatch("batches/rie1", geminitest.Batch{State: "BATCH_STATE_FAILED", ErrorCode: 3, ErrorMessage: "bad input"})
	api.AddBatch("batches/rie2", geminitest.Batch{State: "BATCH_STATE_EXPIRED"})
	api.AddBatch("batches/rie3", geminitest.Batch{State: "BATCH_STATE_RUNNING"})
	r := startRIE(t, map[string]string{
		"IDEMPOTENCY_STORE":      "memory",
		"WEBHOOK_SIGNING_SECRET": secretNew,
		"GEMINI_API_KEY":         "k",
		"GOOGLE_GEMINI_BASE_URL": api.URL,
	})
	event := map[string]any{
		"source": "aws.scheduler", "detail-type": "Scheduled Event",
		"time": "2026-12-01T12:00:00Z", "resources": []string{"arn:aws:scheduler:us-east-1:123456789012:schedule/default/reconcile"},
		"detail": map[string]any{},
	}
	type counts struct{ Seen, Known, Running, Applied, Failed int }
	for i, want := range []counts{{3, 0, 1, 2, 0}, {3, 2, 1, 0, 0}} {
		out := r.invoke(t, event)
		var s reconcile.Summary
		if err := json.Unmarshal(out, &s); err != nil {
			t.Fatalf("run %d: not a summary: %s (%v)\nstderr:\n%s", i, out, err, r.Svc.LogText())
		}
		if got := (counts{s.Seen, s.Known, s.Running, s.Applied, s.Failed}); got != want {
			t.Fatalf("run %d: %+v, want %+v\nstdout:\n%s", i, got, want, r.Stdout)
		}
	}
}
