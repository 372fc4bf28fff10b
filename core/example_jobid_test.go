package core_test

import (
	"fmt"

	"github.com/geminiwebhooks/receiver/core"
)

// The guide's own envelope names a batch by a bare id; the API, the job
// ledger and every call use the resource name.
func ExampleNormalizeJobID() {
	for _, c := range []struct{ kind, id string }{
		{"batch", "batch_123456"},
		{"batch", "batches/batch_123456"},
		{"interaction", "v1_ChdabcXYZ"},
		{"video", "abc123"},
	} {
		name := core.NormalizeJobID(c.kind, c.id)
		fmt.Println(name, core.ValidJobID(c.kind, name) == nil)
	}
	// Output:
	// batches/batch_123456 true
	// batches/batch_123456 true
	// interactions/v1_ChdabcXYZ true
	// files/abc123 true
}

// An event names its job as Gemini sent it; JobID is the resource name.
func ExampleEvent_JobID() {
	ev, err := core.ParseEvent([]byte(`{"type": "batch.completed", "version": "v1", "timestamp": "2026-01-22T12:00:00Z",
		"data": {"id": "batch_123456", "output_file_uri": "gs://my-bucket/results.jsonl", "error_count": 0}}`))
	if err != nil {
		panic(err)
	}
	fmt.Println(ev.Type, ev.Data.ID, ev.JobID())
	// Output: batch.succeeded batch_123456 batches/batch_123456
}
