// Package bolt is the local server's storage: one bbolt file holds the
// idempotency records and dead letters (Store, a core.Store), the job ledger
// (Ledger), the durable queue of accepted deliveries (Tasks) and the hourly
// delivery counts (Outcomes), so the local server survives a restart, or a
// SIGKILL, without losing an accepted delivery or processing one twice.
//
// How it fits: the local server (adapters/local) opens the file itself
// (.gemini-webhooks/ in its working folder) when IDEMPOTENCY_STORE is file,
// its default; the clouds use Firestore (adapters/firestore) instead. A
// delivery is answered only once what it wrote is on disk; the writes of
// concurrent deliveries share their transactions and fdatasyncs. Open one
// yourself only to compose your own receiver:
//
//	s, err := bolt.Open("idempotency.db")
//	…
//	r, err := core.NewReceiver(core.ReceiverOptions{Store: s, …})
//
// One process at a time: bbolt locks the file.
package bolt
