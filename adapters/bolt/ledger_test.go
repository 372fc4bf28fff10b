package bolt

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
	"github.com/geminiwebhooks/receiver/core/jobs/ledgertest"
	"github.com/geminiwebhooks/receiver/core/tasks"
)

func TestLedgerConformance(t *testing.T) {
	ledgertest.RunLedger(t, func(t *testing.T) jobs.Ledger {
		l, err := NewLedger(open(t, filepath.Join(t.TempDir(), "state.db")).DB())
		if err != nil {
			t.Fatal(err)
		}
		return l
	})
}

func TestTasksConformance(t *testing.T) {
	ledgertest.RunTasks(t, func(t *testing.T) tasks.Store {
		q, err := NewTasks(open(t, filepath.Join(t.TempDir(), "state.db")).DB())
		if err != nil {
			t.Fatal(err)
		}
		return q
	})
}

// Jobs and queued tasks survive closing and reopening the file, beside the
// delivery records: a restarted local server resumes its queue and still
// knows what it landed.
func TestLedgerAndTasksSurviveRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	now := time.Now().UTC().Truncate(time.Millisecond)
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	l, _ := NewLedger(s.DB())
	q, _ := NewTasks(s.DB())
	ev := &core.Event{Type: core.BatchFailed, Delivery: core.Delivery{ID: "msg_1"}}
	ev.Data.ID = "batches/r"
	if _, err := l.UpdateJob(ctx, "batches/r", func(j *jobs.Job) (*jobs.Job, error) { return jobs.ApplyEvent(j, ev, now), nil }); err != nil {
		t.Fatal(err)
	}
	if err := q.PutTask(ctx, tasks.Task{ID: "msg_2", Body: []byte(`{}`), EnqueuedAt: now}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s2 := open(t, path)
	l2, _ := NewLedger(s2.DB())
	q2, _ := NewTasks(s2.DB())
	j, err := l2.GetJob(ctx, "batches/r")
	if err != nil || j == nil || j.State != jobs.JobFailed || j.Deliveries[0] != "msg_1" {
		t.Fatalf("job after reopen = %+v, %v", j, err)
	}
	tasks, err := q2.ListTasks(ctx)
	if err != nil || len(tasks) != 1 || tasks[0].ID != "msg_2" {
		t.Fatalf("tasks after reopen = %+v, %v", tasks, err)
	}
}
