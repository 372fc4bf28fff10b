// Package dynamodb keeps the receiver's idempotency records, job ledger,
// dead letters and the reconcile's last run in one Amazon DynamoDB table,
// so that a Lambda deployment needs no Google Cloud project
// (IDEMPOTENCY_STORE=dynamodb, DYNAMODB_TABLE). The semantics are those of
// every store (core.Store): owned claims with a lease that ends with the
// invocation's deadline, the body's SHA-256 and a conflict on a different
// body, completion and release by the owner only, expired records counted
// as absent whether or not DynamoDB's time to live has deleted them yet.
//
// # Table
//
// One table, created by TableInput (or CreateTable, or the SAM template):
// partition key pk and sort key sk (strings), on-demand billing, time to
// live on the attribute "expiration" (epoch seconds), and a sparse global
// secondary index "list" (lpk, lsk; keys only) through which jobs and dead
// letters are listed. An id that is not valid UTF-8 or longer than 512
// bytes is replaced in pk by the hex SHA-256 of it ("kind!<hex>").
//
//	item                 pk                 sk             lpk / lsk
//	delivery record      delivery#<id>      delivery       -
//	job                  job#<job id>       job            job / firstSeen#pk
//	dead letter          deadletter#<id>    deadletter     deadletter / receivedAt#pk
//	dead letter's body   deadletter#<id>    chunk#000000…  -   (bodies over 350 KB)
//	last reconcile       reconcile          last           -
//
// A delivery record holds key, state (in_progress, completed), owner,
// bodySha256 (binary), eventType, leaseUntil, firstSeen, finishedAt and
// expireAt (unix nanoseconds: the lease end while in progress, then the end
// of IDEMPOTENCY_TTL) and expiration (expireAt in epoch seconds, rounded
// up, for time to live). A job holds its record as JSON (gzipped above
// 256 KB), a revision rev, and kind and state for the console. Jobs, dead
// letters and the last run have no expiration.
//
// # Requests
//
// Every write that decides something is conditional, never a read and then
// a write: a claim is one PutItem on "absent or expired", which on failure
// returns the live record (ReturnValuesOnConditionCheckFailure) for
// core.Decide; completion and release are one UpdateItem or DeleteItem on
// "this owner, in progress"; a ledger update is one PutItem on the
// revision it was computed from, which on failure returns the current job
// to apply the rules to again. The requests per delivery:
//
//	new delivery                                  2  PutItem, UpdateItem
//	new delivery with the ledger (a new job)      3  PutItem, PutItem (job), UpdateItem
//	new delivery of a job this instance wrote     3  PutItem, PutItem (job), UpdateItem
//	new delivery of a job another instance wrote  4  PutItem, PutItem (fails, returns the job), PutItem, UpdateItem
//	  (or changed since this instance wrote it)
//	duplicate another instance completed          1  PutItem (fails, returns the record)
//	duplicate this instance completed             0  (remembered until its expiry, at most 15 min)
//	same id in progress elsewhere                 1  PutItem (fails)
//	same id, another body (409)                   1  PutItem (fails); 0 where this instance completed it
//	takeover of a crashed owner's expired lease   3  PutItem, UpdateItem (keeps firstSeen), UpdateItem
//	handler error                                 2  PutItem, DeleteItem
//
// Firestore's store needs 3 for a new delivery with the ledger, 1 or 2
// for a duplicate another instance completed (1 only when the event is old
// enough to read first), 5 for a job another instance wrote. The figures
// are counted on the wire, every HTTP attempt, by TestRoundTrips and
// TestRoundTripsWithLedger. The admin commands list jobs and dead letters with
// a Query on the index and a BatchGetItem; the index is eventually
// consistent, so an item written a moment ago may be missing from a list
// for that moment (gets are strongly consistent).
//
// # Permissions
//
// The function needs dynamodb:GetItem, PutItem, UpdateItem, DeleteItem,
// Query and BatchGetItem on the table and Query on its index
// (table/NAME/index/list); nothing else (no Scan, no table management).
//
// # Configuration
//
// The receiver (adapters/lambda, and the admin commands) uses this store
// with IDEMPOTENCY_STORE=dynamodb and DYNAMODB_TABLE (the table's name);
// either without the other is refused at start, naming the variable. The
// client is built from the default AWS configuration (the function's
// role), which honours AWS_ENDPOINT_URL_DYNAMODB (and AWS_ENDPOINT_URL)
// for a local DynamoDB or moto_server. Google Cloud is not needed.
package dynamodb
