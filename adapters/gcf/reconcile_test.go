package gcf

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/geminiwebhooks/receiver/adapters/gemini/geminitest"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/reconcile"
)

// GeminiReconcile: a POST runs one reconcile with the same mux as the
// webhook and answers its summary; anything else, or a configuration
// without GEMINI_API_KEY, runs nothing.
func TestReconciler(t *testing.T) {
	api := geminitest.New("k")
	defer api.Close()
	api.AddBatch("batches/gcf1", geminitest.Batch{State: "BATCH_STATE_CANCELLED"})
	api.AddBatch("batches/gcf2", geminitest.Batch{State: "BATCH_STATE_EXPIRED"})
	api.AddWebhook(geminitest.Webhook{ID: "wh", URI: "https://x.example/GeminiWebhook", State: "disabled_due_to_failed_deliveries"})
	base := map[string]string{"IDEMPOTENCY_STORE": "memory", "GEMINI_API_KEY": "k", "GOOGLE_GEMINI_BASE_URL": api.URL}
	tests := []struct {
		name    string
		env     map[string]string
		method  string
		status  int
		applied int
	}{
		{"scheduled POST", base, http.MethodPost, http.StatusOK, 2},
		{"GET runs nothing", base, http.MethodGet, http.StatusMethodNotAllowed, -1},
		{"no API key", map[string]string{"IDEMPOTENCY_STORE": "memory"}, http.MethodPost, http.StatusInternalServerError, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncBuffer
			ran := map[string]int{}
			mux := core.NewMux().Default(func(_ context.Context, ev *core.Event) error { ran[ev.JobID()]++; return nil })
			r := NewReconciler(envOf(tc.env), newLogger(&logs), mux)
			defer r.Close()
			w := httptest.NewRecorder()
			r.ServeHTTP(w, httptest.NewRequest(tc.method, "/", nil))
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if tc.applied < 0 {
				if len(ran) != 0 {
					t.Fatalf("handlers ran: %v", ran)
				}
				return
			}
			var s reconcile.Summary
			if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil {
				t.Fatal(err)
			}
			if s.Applied != tc.applied || ran["batches/gcf1"] != 1 || ran["batches/gcf2"] != 1 || len(s.Problems) != 1 {
				t.Fatalf("summary %+v, handlers %v", s, ran)
			}
		})
	}
}
