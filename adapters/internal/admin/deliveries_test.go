package admin

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/internal/env"
)

// TestStatusLastReconcileLine: how a kept run reads, from its summary.
func TestStatusLastReconcileLine(t *testing.T) {
	fixedNow := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	now = func() time.Time { return fixedNow }
	t.Cleanup(func() { now = time.Now })
	tests := []struct {
		v    lastReconcileView
		want string
	}{
		{lastReconcileView{Never: true}, "never"},
		{lastReconcileView{Unavailable: "permission denied"}, "not available: permission denied"},
		{lastReconcileView{At: fixedNow.Add(-12 * time.Minute), Listed: 40, Replayed: 2}, "12m ago, 40 listed, 2 replayed"},
		{lastReconcileView{At: fixedNow.Add(-3 * time.Hour), Listed: 5, Failed: 1, CutOff: true, Error: "list batches: 503"},
			"3h ago, 5 listed, 0 replayed, 1 failed, cut off (the next run resumes), error: list batches: 503"},
	}
	for _, tc := range tests {
		if got := tc.v.String(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

// TestStatusFirestoreEmulatorHasNoCloudCounts: with the Firestore emulator,
// auto asks no cloud and says so in one line.
func TestStatusFirestoreEmulatorHasNoCloudCounts(t *testing.T) {
	cfg := env.Config{IdempotencyStore: "firestore", GoogleCloudProject: "p", FirestoreEmulatorHost: "127.0.0.1:1"}
	got, err := deliverySources("auto", cfg, "")
	if err != nil || len(got) != 1 || got[0] != sourceEmulator {
		t.Fatalf("%v %v", got, err)
	}
	rows := deliveryRows(countDeliveries(context.Background(), Extras{}, got, cfg, func(string) string { return "" }, nil))
	if len(rows) != 1 || !strings.HasPrefix(rows[0][1], "not available: FIRESTORE_EMULATOR_HOST is set") {
		t.Fatalf("rows %v", rows)
	}
}

// TestDeliverySources: which sources auto picks from the environment.
func TestDeliverySources(t *testing.T) {
	tests := []struct {
		name string
		flag string
		cfg  env.Config
		env  map[string]string
		want string
	}{
		{"file store", "auto", env.Config{IdempotencyStore: "file"}, nil, "file"},
		{"firestore on AWS", "auto", env.Config{IdempotencyStore: "firestore", GoogleCloudProject: "p"}, map[string]string{"AWS_REGION": "eu-west-1"}, "cloudwatch"},
		{"firestore with an SQS queue", "", env.Config{IdempotencyStore: "firestore", GoogleCloudProject: "p", QueueKind: env.QueueSQS}, nil, "cloudwatch"},
		{"firestore on Google Cloud", "auto", env.Config{IdempotencyStore: "firestore", GoogleCloudProject: "p"}, nil, "monitoring"},
		{"both clouds", "auto", env.Config{IdempotencyStore: "firestore", GoogleCloudProject: "p", QueueKind: env.QueuePubSub}, map[string]string{"AWS_REGION": "eu-west-1"}, "cloudwatch,monitoring"},
		{"named", "file,cloudwatch", env.Config{IdempotencyStore: "firestore"}, nil, "file,cloudwatch"},
		{"none", "none", env.Config{IdempotencyStore: "file"}, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := deliverySources(tc.flag, tc.cfg, tc.env["AWS_REGION"])
			if err != nil || strings.Join(got, ",") != tc.want {
				t.Fatalf("got %v %v, want %s", got, err, tc.want)
			}
		})
	}
	if _, err := deliverySources("datadog", env.Config{}, ""); err == nil {
		t.Fatal("an unknown source is accepted")
	}
}
