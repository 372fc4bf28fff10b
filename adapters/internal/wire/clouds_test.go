package wire_test

import (
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/geminiwebhooks/receiver/adapters/firestore"
	"github.com/geminiwebhooks/receiver/adapters/internal/aws"
	"github.com/geminiwebhooks/receiver/adapters/internal/env"
	"github.com/geminiwebhooks/receiver/adapters/internal/gcs"
	"github.com/geminiwebhooks/receiver/adapters/internal/pubsub"
	"github.com/geminiwebhooks/receiver/adapters/internal/wire"
)

// The clouds offer what the configuration names: a queue for each QUEUE
// kind and a sink for each RESULTS_SINK scheme env accepts; the Firestore
// store's own default collection is the one env documents.
func TestCloudsServeTheConfiguration(t *testing.T) {
	all := wire.AWSCloud(&aws.Clients{}).Merge(wire.GoogleCloud(pubsub.Publisher{}.Open, &gcs.Clients{}))
	for _, c := range []struct{ queue, sink string }{
		{"sqs:https://sqs.eu-west-1.amazonaws.com/123456789012/q", "s3://b/p"},
		{"pubsub:projects/my-proj/topics/events", "gs://b/p"},
	} {
		cfg, err := env.Load(func(k string) string {
			return map[string]string{"QUEUE": c.queue, "RESULTS_SINK": c.sink, "IDEMPOTENCY_STORE": "memory"}[k]
		}, env.Serverless)
		if err != nil {
			t.Fatal(err)
		}
		if all.Queues[cfg.QueueKind] == nil || all.Sinks[cfg.SinkKind()] == nil {
			t.Errorf("QUEUE=%s RESULTS_SINK=%s: no queue %q or no sink %q", c.queue, c.sink, cfg.QueueKind, cfg.SinkKind())
		}
	}
	if all.Sources["gs"] == nil {
		t.Error("no gs:// source")
	}
	if firestore.DefaultCollection != env.DefaultFirestoreCollection {
		t.Errorf("firestore.DefaultCollection %q, env.DefaultFirestoreCollection %q", firestore.DefaultCollection, env.DefaultFirestoreCollection)
	}
}

// Dependencies point inward: the cloud adapters take values from the
// wiring and import neither it nor the configuration (directly or not).
func TestCloudAdaptersImportNoConfiguration(t *testing.T) {
	banned := map[string]bool{reflect.TypeOf(env.Config{}).PkgPath(): true, reflect.TypeOf(wire.Cloud{}).PkgPath(): true}
	for _, typ := range []reflect.Type{reflect.TypeOf(firestore.Store{}), reflect.TypeOf(pubsub.Publisher{}), reflect.TypeOf(gcs.Clients{}), reflect.TypeOf(aws.Clients{})} {
		out, err := exec.Command("go", "list", "-deps", typ.PkgPath()).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", typ.PkgPath(), err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if banned[dep] {
				t.Errorf("%s imports %s", typ.PkgPath(), dep)
			}
		}
	}
}
