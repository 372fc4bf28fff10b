package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/aws/aws-lambda-go/events"
	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/geminiwebhooks/receiver/adapters/aws"
	"github.com/geminiwebhooks/receiver/adapters/env"
	"github.com/geminiwebhooks/receiver/adapters/gcf"
	"github.com/geminiwebhooks/receiver/adapters/gemini/geminitest"
	"github.com/geminiwebhooks/receiver/adapters/pubsub"
	"github.com/geminiwebhooks/receiver/adapters/sqs"
	"github.com/geminiwebhooks/receiver/adapters/wire"
	"github.com/geminiwebhooks/receiver/core"
)

// userHandler is a user's handler of interaction.completed that counts its
// runs: broken (a permanent failure, so the worker keeps the event as a
// dead letter) until fixed; once fixed, each run waits at gate when set.
type userHandler struct {
	mu      sync.Mutex
	broken  bool
	fixed   int // runs since the fix
	gate    chan struct{}
	entered chan struct{}
}

func (h *userHandler) handle(ctx context.Context, ev *core.Event) error {
	h.mu.Lock()
	if h.broken {
		h.mu.Unlock()
		return fmt.Errorf("%w: the handler is broken", core.ErrPermanent)
	}
	h.fixed++
	gate, entered := h.gate, h.entered
	h.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
	}
	if gate != nil {
		<-gate
	}
	return nil
}

func (h *userHandler) runs() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.fixed
}

// liveWorker is a deployment's worker on a real queue (the Pub/Sub
// emulator, moto's SQS): each message is handed to the deployed code
// (GeminiWorker's Handle, the Lambda's SQS consumer) in a goroutine of its
// own, as concurrent instances would run them.
type liveWorker struct {
	send     func(ev *core.Event) // publish a delivery as the receiver does
	sendDead func(ev *core.Event) // put one in the queue's dead-letter queue, as the queue does
	acked    atomic.Int32         // messages the worker finished with
	retried  atomic.Int32         // messages handed back for later
}

func replayEvent(t *testing.T, id string) *core.Event {
	t.Helper()
	ev, err := core.ParseEvent([]byte(`{"type":"interaction.completed","version":"v1","timestamp":"2026-12-01T11:00:00Z","data":{"id":"interactions/` + id + `"}}`))
	if err != nil {
		t.Fatal(err)
	}
	ev.Delivery = core.Delivery{ID: id, Scheme: core.SchemeStatic}
	return ev
}

// pubsubWorker runs GeminiWorker (adapters/gcf) over a pull subscription
// of topic on the emulator, with mux.
func pubsubWorker(t *testing.T, ctx context.Context, vars map[string]string, mux *core.Mux) *liveWorker {
	c, project := pubsubEmulator(t, "replay-ps")
	topic, sub := "projects/"+project+"/topics/events", "projects/"+project+"/subscriptions/worker"
	dead := topic + "-dead-letter"
	for _, name := range []string{topic, dead} {
		if _, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{Name: "projects/" + project + "/subscriptions/events-dead-letter-sub", Topic: dead}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{Name: sub, Topic: topic, AckDeadlineSeconds: 60,
		DeadLetterPolicy: &pubsubpb.DeadLetterPolicy{DeadLetterTopic: dead, MaxDeliveryAttempts: 20}}); err != nil {
		t.Fatal(err)
	}
	vars["QUEUE"] = "pubsub:" + topic
	w := gcf.NewWorker(func(k string) string { return vars[k] }, testLogger(), mux)
	t.Cleanup(func() { w.Close() })
	q, err := pubsub.New(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	qd, err := pubsub.New(ctx, dead)
	if err != nil {
		t.Fatal(err)
	}
	lw := &liveWorker{send: func(ev *core.Event) {
		if err := q.Enqueue(ctx, ev); err != nil {
			t.Error(err)
		}
	}, sendDead: func(ev *core.Event) {
		if err := qd.Enqueue(ctx, ev); err != nil {
			t.Error(err)
		}
	}}
	go func() {
		for ctx.Err() == nil {
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			r, err := c.SubscriptionAdminClient.Pull(pctx, &pubsubpb.PullRequest{Subscription: sub, MaxMessages: 10})
			cancel()
			if err != nil {
				continue
			}
			for _, m := range r.ReceivedMessages {
				go func() {
					msg := m.GetMessage()
					e := cloudevents.NewEvent()
					e.SetID(msg.GetMessageId())
					e.SetSource("//pubsub.googleapis.com/" + topic)
					e.SetType("google.cloud.pubsub.topic.v1.messagePublished")
					_ = e.SetData(cloudevents.ApplicationJSON, map[string]any{"subscription": sub, "message": map[string]any{
						"data": base64.StdEncoding.EncodeToString(msg.GetData()), "attributes": msg.GetAttributes(), "messageId": msg.GetMessageId()}})
					if w.Handle(ctx, e) == nil {
						_ = c.SubscriptionAdminClient.Acknowledge(context.WithoutCancel(ctx), &pubsubpb.AcknowledgeRequest{Subscription: sub, AckIds: []string{m.GetAckId()}})
						lw.acked.Add(1)
						return
					}
					lw.retried.Add(1)
					time.Sleep(300 * time.Millisecond) // Pub/Sub's retry backoff
					_ = c.SubscriptionAdminClient.ModifyAckDeadline(context.WithoutCancel(ctx), &pubsubpb.ModifyAckDeadlineRequest{Subscription: sub, AckIds: []string{m.GetAckId()}, AckDeadlineSeconds: 0})
				}()
			}
		}
	}()
	return lw
}

// sqsWorker runs the Lambda's SQS consumer (adapters/sqs, as lambda.Start
// wires it) over a queue on moto_server, with mux.
func sqsWorker(t *testing.T, ctx context.Context, vars map[string]string, mux *core.Mux) *liveWorker {
	startMoto(t)
	c, err := (&aws.Clients{}).SQS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dlq, err := c.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: awssdk.String("replay-tasks-dead-letter")})
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := c.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: dlq.QueueUrl, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	q, err := c.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: awssdk.String("replay-tasks"), Attributes: map[string]string{
		"RedrivePolicy": `{"deadLetterTargetArn":"` + attrs.Attributes["QueueArn"] + `","maxReceiveCount":"20"}`}})
	if err != nil {
		t.Fatal(err)
	}
	url := awssdk.ToString(q.QueueUrl)
	vars["QUEUE"] = "sqs:" + url
	cfg, err := env.Load(func(k string) string { return vars[k] }, env.Cloud)
	if err != nil {
		t.Fatal(err)
	}
	app, err := wire.Build(ctx, cfg, mux, wire.Options{Logger: testLogger(), Cloud: (&aws.Clients{}).Cloud()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	consumer := &sqs.Consumer{Runner: app.Runner}
	send := func(url string) func(ev *core.Event) {
		return func(ev *core.Event) {
			if _, err := c.SendMessage(ctx, sqs.SendInput(url, ev, time.Now())); err != nil {
				t.Error(err)
			}
		}
	}
	lw := &liveWorker{send: send(url), sendDead: send(awssdk.ToString(dlq.QueueUrl))}
	go func() {
		for ctx.Err() == nil {
			r, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 30,
				MessageAttributeNames: []string{"All"}, MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll}})
			if err != nil {
				continue
			}
			for _, m := range r.Messages {
				go func() {
					rec := events.SQSMessage{MessageId: awssdk.ToString(m.MessageId), ReceiptHandle: awssdk.ToString(m.ReceiptHandle), Body: awssdk.ToString(m.Body),
						Attributes: m.Attributes, MessageAttributes: map[string]events.SQSMessageAttribute{}, EventSource: "aws:sqs"}
					for k, v := range m.MessageAttributes {
						rec.MessageAttributes[k] = events.SQSMessageAttribute{StringValue: v.StringValue, DataType: awssdk.ToString(v.DataType)}
					}
					resp, _ := consumer.HandleSQS(ctx, events.SQSEvent{Records: []events.SQSMessage{rec}})
					if len(resp.BatchItemFailures) == 0 {
						_, _ = c.DeleteMessage(context.WithoutCancel(ctx), &awssqs.DeleteMessageInput{QueueUrl: q.QueueUrl, ReceiptHandle: m.ReceiptHandle})
						lw.acked.Add(1)
						return
					}
					lw.retried.Add(1)
					_, _ = c.ChangeMessageVisibility(context.WithoutCancel(ctx), &awssqs.ChangeMessageVisibilityInput{QueueUrl: q.QueueUrl, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 1})
				}()
			}
		}
	}()
	return lw
}

// eventually waits for cond (the test's own deadline bounds it).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
	}
}

func deadLetterKeys(t *testing.T, b *wire.Backend) []string {
	t.Helper()
	dls, err := b.DeadLetters.ListDeadLetters(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, d := range dls {
		keys = append(keys, d.Key)
	}
	return keys
}

func cli(getenv func(string) string, args ...string) (int, string) {
	var out bytes.Buffer
	code := run(context.Background(), args, &out, &out, getenv)
	return code, out.String()
}

// TestReplayRunsTheUsersHandlersInTheDeployedWorker: a dead letter of the
// Firestore store, replayed with QUEUE set, goes back onto the live queue
// (Pub/Sub emulator, moto's SQS) and the deployed worker runs the user's
// handler: exactly once, although a copy of the same delivery reaches a
// live worker while the replay runs; the dead letter is deleted only once
// the delivery completed; a second replay of the same key runs nothing.
func TestReplayRunsTheUsersHandlersInTheDeployedWorker(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(*testing.T, context.Context, map[string]string, *core.Mux) *liveWorker
	}{{"pubsub", pubsubWorker}, {"sqs", sqsWorker}} {
		t.Run(tc.name, func(t *testing.T) {
			replayInTheDeployedWorker(t, firestoreEmulator(t, "replay-"+tc.name), tc.name, tc.start)
		})
	}
}

// replayInTheDeployedWorker is the scenario above on the store vars
// name, through the worker start runs (replay key msg_replay_NAME).
func replayInTheDeployedWorker(t *testing.T, vars map[string]string, name string, start func(*testing.T, context.Context, map[string]string, *core.Mux) *liveWorker) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := &userHandler{broken: true}
	lw := start(t, ctx, vars, core.NewMux().On(core.InteractionCompleted, h.handle))
	getenv := func(k string) string { return vars[k] }
	b := openBackendOf(t, getenv)
	key := "msg_replay_" + name
	ev := replayEvent(t, key)

	// The handler fails for good: the worker keeps the event as a dead letter.
	lw.send(ev)
	eventually(t, "the dead letter", func() bool { return len(deadLetterKeys(t, b)) == 1 })

	// Fixed; the replay's run is held in the handler.
	h.mu.Lock()
	h.broken, h.gate, h.entered = false, make(chan struct{}), make(chan struct{}, 4)
	h.mu.Unlock()
	type answer struct {
		code int
		out  string
	}
	done := make(chan answer, 1)
	go func() {
		code, out := cli(getenv, "deadletters", "replay", key)
		done <- answer{code, out}
	}()
	select {
	case <-h.entered:
	case a := <-done:
		t.Fatalf("replay ended before the handler ran: exit %d\n%s", a.code, a.out)
	case <-time.After(90 * time.Second):
		t.Fatal("the replayed delivery never reached the handler")
	}
	if got := deadLetterKeys(t, b); len(got) != 1 {
		t.Errorf("dead letters while the replayed delivery runs: %v; want it kept until it completed", got)
	}
	// A live worker gets the same delivery meanwhile (a queue's redelivery).
	retried := lw.retried.Load()
	lw.send(ev)
	eventually(t, "the racing copy was handed back", func() bool { return lw.retried.Load() > retried })
	close(h.gate)
	a := <-done
	if a.code != 0 || !strings.Contains(a.out, "run by the deployed worker; dead letter deleted") {
		t.Fatalf("replay: exit %d\n%s", a.code, a.out)
	}
	if got := deadLetterKeys(t, b); len(got) != 0 {
		t.Errorf("dead letters after the replay: %v", got)
	}
	eventually(t, "every copy acknowledged", func() bool { return lw.acked.Load() == 3 }) // the dead-lettered one, the replay, the racing copy
	if n := h.runs(); n != 1 {
		t.Errorf("the fixed handler ran %d times, want exactly once", n)
	}

	// A second replay of the same key (a copy of the dead letter left
	// by an earlier listing) runs nothing, and deletes it.
	if err := b.DeadLetters.PutDeadLetter(ctx, core.DeadLetter{Key: key, Scheme: core.SchemeStatic, Body: ev.Raw, Reason: "copy", ReceivedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if code, out := cli(getenv, "deadletters", "replay", key); code != 0 || !strings.Contains(out, "had completed already: nothing run") {
		t.Errorf("second replay: exit %d\n%s", code, out)
	}
	if code, out := cli(getenv, "deadletters", "replay", key); code != 1 || !strings.Contains(out, "no dead letter") {
		t.Errorf("third replay: exit %d\n%s", code, out)
	}
	if n := h.runs(); n != 1 {
		t.Errorf("after the second replay the handler ran %d times, want once", n)
	}
	if got := deadLetterKeys(t, b); len(got) != 0 {
		t.Errorf("dead letters at the end: %v", got)
	}
}

// TestReplayThroughTheReconcileFunction: without QUEUE, a replay goes to
// GeminiReconcile (private: the stand-in for Cloud Run's IAM refuses a
// request without the caller's identity token), which runs the user's
// handler there; once, and never again for a second replay.
func TestReplayThroughTheReconcileFunction(t *testing.T) {
	vars := firestoreEmulator(t, "replay-fn")
	api := geminitest.New("k")
	defer api.Close()
	api.SetAuto(100)
	fnVars := map[string]string{"GEMINI_API_KEY": "k", "GOOGLE_GEMINI_BASE_URL": api.URL}
	for k, v := range vars {
		fnVars[k] = v
	}
	h := &userHandler{}
	fn := gcf.NewReconciler(func(k string) string { return fnVars[k] }, testLogger(), core.NewMux().On(core.InteractionCompleted, h.handle))
	defer fn.Close()
	const token = "an-identity-token"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		fn.ServeHTTP(w, r)
	}))
	defer srv.Close()
	ctx := context.Background()
	getenv := func(k string) string { return vars[k] }
	b := openBackendOf(t, getenv)
	ev := replayEvent(t, "msg_fn")
	put := func() {
		if err := b.DeadLetters.PutDeadLetter(ctx, core.DeadLetter{Key: "msg_fn", Scheme: core.SchemeStatic, Body: ev.Raw, Reason: "handler: boom", ReceivedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	put()
	steps := []struct {
		name string
		vars map[string]string
		code int
		want string
		runs int
	}{
		{"no way to reach the deployment", nil, 1, "QUEUE and RECONCILE_URL are unset", 0},
		{"refused without the token", map[string]string{"RECONCILE_URL": srv.URL, "RECONCILE_ID_TOKEN": "wrong"}, 1, "403", 0},
		{"run by the function", map[string]string{"RECONCILE_URL": srv.URL, "RECONCILE_ID_TOKEN": token}, 0, "replayed by the deployed function", 1},
	}
	for _, s := range steps {
		code, out := cli(func(k string) string {
			if v, ok := s.vars[k]; ok {
				return v
			}
			return vars[k]
		}, "deadletters", "replay", "msg_fn")
		if code != s.code || !strings.Contains(out, s.want) || h.runs() != s.runs {
			t.Errorf("%s: exit %d, %d runs\n%s\nwant exit %d, %q, %d runs", s.name, code, h.runs(), out, s.code, s.want, s.runs)
		}
	}
	if got := deadLetterKeys(t, b); len(got) != 0 {
		t.Errorf("dead letters after the replay: %v", got)
	}
	put() // a second replay of the same key
	withURL := func(k string) string {
		return map[string]string{"RECONCILE_URL": srv.URL, "RECONCILE_ID_TOKEN": token}[k] + vars[k]
	}
	if code, out := cli(withURL, "deadletters", "replay", "msg_fn"); code != 0 || !strings.Contains(out, "nothing run") || h.runs() != 1 {
		t.Errorf("second replay: exit %d, %d runs\n%s", code, h.runs(), out)
	}
	// The entry itself, asked directly for a key it does not keep.
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(`{"gemini_webhooks_replay":"msg_nope"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown key: %s, want 404", resp.Status)
	}
}

// testLogger shows the deployed code's lines with -v.
func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// TestReplayQueueDeadLetters: with QUEUE set, the queue's own dead letters
// (the SQS dead-letter queue found through the redrive policy, the Pub/Sub
// dead-letter subscription found through the trigger's deadLetterPolicy)
// are part of status and deadletters; replay --all puts each back onto the
// live queue, the deployed worker runs the user's handler once per
// delivery, and each is removed once its delivery completed; the one that
// can never be processed is named and kept.
func TestReplayQueueDeadLetters(t *testing.T) {
	for _, tc := range []struct {
		name, prefix, depth string
		start               func(*testing.T, context.Context, map[string]string, *core.Mux) *liveWorker
	}{
		{"pubsub", pubsubKeyPrefix, "Pub/Sub dead letters (", pubsubWorker},
		{"sqs", sqsKeyPrefix, "SQS dead-letter queue", sqsWorker},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			vars := firestoreEmulator(t, "dlq-"+tc.name)
			h := &userHandler{}
			lw := tc.start(t, ctx, vars, core.NewMux().On(core.InteractionCompleted, h.handle))
			getenv := func(k string) string { return vars[k] }
			seed(t, getenv)
			ids := []string{"msg_" + tc.name + "_1", "msg_" + tc.name + "_2"}
			for _, id := range ids {
				lw.sendDead(replayEvent(t, id))
			}
			runSteps(t, getenv, []opStep{
				{"status", []string{"status"}, 0, []string{tc.depth, "2 messages"}, []string{conventionNote}},
				{"list both kinds", []string{"deadletters", "list"}, 0, []string{tc.prefix, "interaction.completed", "msg_dead_event", "msg_dead_garbage"}, nil},
				{"listing hands them back", []string{"status", "--json"}, 0, []string{`"dead_letter_queue_depth": 2`, `"dead_letters": 2`}, nil},
			})
			var out bytes.Buffer
			if code := run(ctx, []string{"deadletters", "replay", "--all"}, &out, &out, getenv); code != 1 {
				t.Errorf("replay --all: exit %d, want 1 (one can never be processed)\n%s", code, out.String())
			}
			for _, w := range []string{"msg_dead_event: back on", tc.prefix, "run by the deployed worker; dead letter deleted", "replay msg_dead_garbage: it can never be processed"} {
				if !strings.Contains(out.String(), w) {
					t.Errorf("replay --all lacks %q:\n%s", w, out.String())
				}
			}
			if n := strings.Count(out.String(), "run by the deployed worker"); n != 3 {
				t.Errorf("%d replayed through the worker, want 3:\n%s", n, out.String())
			}
			runSteps(t, getenv, []opStep{
				{"only the unprocessable one is left", []string{"status", "--json"}, 0, []string{`"dead_letter_queue_depth": 0`, `"dead_letters": 1`}, nil},
			})
			if n := h.runs(); n != 3 {
				t.Errorf("the handler ran %d times, want 3 (once per replayed delivery)", n)
			}
			recordedOnce(t, getenv, ids...)
		})
	}
}

// openBackendOf opens the backend getenv names for the test's length.
func openBackendOf(t *testing.T, getenv func(string) string) *wire.Backend {
	t.Helper()
	cfg, err := env.Load(getenv, env.Local)
	if err != nil {
		t.Fatal(err)
	}
	b, err := wire.OpenBackendIn(context.Background(), cfg, (&aws.Clients{}).Cloud())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}
