// Package tasks is the queued half of the receiver. When a queue is
// configured (QUEUE: Pub/Sub or SQS in the clouds, the durable local queue
// of adapters/local), the receiver claims a verified delivery, hands its
// event to the queue and answers 202; a worker processes it later as a
// Task, with the same exactly-once rules as a delivery processed at once.
//
//   - Runner runs the tasks a cloud queue delivers (a Pub/Sub push, an SQS
//     batch): it claims each task, runs the mux, completes or releases the
//     claim, and keeps a task that keeps failing as a dead letter, which
//     Replay (the admin CLI's deadletters replay) runs again.
//   - Queue is the in-process durable queue the local runtime uses: tasks
//     are kept in a Store (adapters/bolt's file in practice, MemoryStore in
//     tests) and retried with backoff until MaxAttempts.
//
// Users do not build either: gcf.Register, lambda.Start and local.Main do,
// from the environment. The package is public for the test kit and for a
// composition of your own:
//
//	store := core.NewMemoryStore(0)
//	q, err := tasks.NewQueue(tasks.QueueOptions{Tasks: tasks.NewMemoryStore(), Processor: mux, DeadLetters: store})
//	...
//	go q.Run(ctx)
//	receiver, err := core.NewReceiver(core.ReceiverOptions{Verifier: v.Schemes(), Store: store, Queue: q.Intake()})
package tasks
