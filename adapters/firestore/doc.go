// Package firestore keeps idempotency records and dead letters (Store, a
// core.Store and core.DeadLetters) and the job ledger (Ledger) in Cloud
// Firestore, so that every instance of the receiver, on either cloud, agrees
// on which deliveries were processed (core.Store's owned claims).
//
// How it fits: the Cloud Function (adapters/gcf) and the Lambda
// (adapters/lambda) open it from the environment (IDEMPOTENCY_STORE=firestore,
// their default; GOOGLE_CLOUD_PROJECT, FIRESTORE_DATABASE,
// FIRESTORE_COLLECTION; FIRESTORE_EMULATOR_HOST for the emulator). Open one
// yourself only to compose your own receiver:
//
//	s, err := firestore.New(ctx, firestore.Config{ProjectID: "my-project"})
//	…
//	r, err := core.NewReceiver(core.ReceiverOptions{Store: s, …})
//
// One document per delivery id. A new delivery costs two writes: the claim
// (a Create, which fails if the document exists) and the completion (an
// update whose update_time precondition proves the writer still owns the
// claim). A duplicate costs the failed Create and one read; one read when
// this process recently saw the id in progress; nothing when it saw it
// completed. Records carry an expireAt field for Firestore's TTL policy; an
// expired record counts as absent whether or not Firestore has deleted it.
package firestore
