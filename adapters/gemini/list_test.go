package gemini_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/gemini"
	"github.com/geminiwebhooks/receiver/adapters/gemini/geminitest"
	"github.com/geminiwebhooks/receiver/core/jobs"
	"github.com/geminiwebhooks/receiver/core/reconcile"
)

// ListBatches follows the SDK's pages to the end and maps each batch's
// state; ListWebhooks reads the WebhookService's list.
func TestListBatches(t *testing.T) {
	tests := []struct {
		n, pages int
	}{{0, 1}, {1, 1}, {gemini.ListPageSize, 1}, {gemini.ListPageSize + 1, 2}, {3*gemini.ListPageSize + 5, 4}}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.n), func(t *testing.T) {
			api := geminitest.New("k")
			defer api.Close()
			states := []string{"BATCH_STATE_SUCCEEDED", "BATCH_STATE_FAILED", "BATCH_STATE_CANCELLED", "BATCH_STATE_EXPIRED", "BATCH_STATE_RUNNING"}
			want := map[jobs.JobState]int{}
			created := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
			for i := range tc.n {
				st := states[i%len(states)]
				api.AddBatch(fmt.Sprintf("batches/l%04d", i), geminitest.Batch{State: st, Created: created})
				want[map[string]jobs.JobState{"BATCH_STATE_SUCCEEDED": jobs.JobSucceeded, "BATCH_STATE_FAILED": jobs.JobFailed,
					"BATCH_STATE_CANCELLED": jobs.JobCancelled, "BATCH_STATE_EXPIRED": jobs.JobExpired, "BATCH_STATE_RUNNING": jobs.JobRunning}[st]]++
			}
			c, err := gemini.New(context.Background(), gemini.Config{APIKey: "k", BaseURL: api.URL})
			if err != nil {
				t.Fatal(err)
			}
			got := map[jobs.JobState]int{}
			var names []string
			err = c.ListBatches(context.Background(), func(b reconcile.Batch) error {
				got[b.State]++
				names = append(names, b.Name)
				if !b.Created.Equal(created) {
					t.Errorf("%s: created %v, want %v", b.Name, b.Created, created)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(names) != tc.n || !slices.IsSorted(names) || len(got) != len(want) || api.ListCalls() != tc.pages {
				t.Fatalf("%d batches in %d pages, states %v; want %d in %d pages, %v", len(names), api.ListCalls(), got, tc.n, tc.pages, want)
			}
			for k, v := range want {
				if got[k] != v {
					t.Fatalf("states %v, want %v", got, want)
				}
			}
		})
	}
}

func TestListWebhooks(t *testing.T) {
	api := geminitest.New("k")
	defer api.Close()
	exp := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	api.AddWebhook(geminitest.Webhook{ID: "a", URI: "https://r.example/h", State: "enabled", Expires: []time.Time{{}, exp}})
	api.AddWebhook(geminitest.Webhook{ID: "b", URI: "https://r.example/h", State: "disabled_due_to_failed_deliveries"})
	c, err := gemini.New(context.Background(), gemini.Config{APIKey: "k", BaseURL: api.URL})
	if err != nil {
		t.Fatal(err)
	}
	hooks, err := c.ListWebhooks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(hooks) != 2 || hooks[0].ID != "a" || hooks[0].State != "enabled" || len(hooks[0].Secrets) != 2 ||
		!hooks[0].Secrets[0].Expire.IsZero() || !hooks[0].Secrets[1].Expire.Equal(exp) || hooks[1].State != "disabled_due_to_failed_deliveries" {
		t.Fatalf("webhooks %+v", hooks)
	}
}
