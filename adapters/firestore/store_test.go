package firestore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/storetest"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
)

// step is one store call in a scenario; times are offsets from the scenario's start.
type step struct {
	op    string // claim, complete, release
	owner string
	body  string
	at    time.Duration
	lease time.Duration // claim: LeaseUntil = at + lease (default 1 min)
	keep  time.Duration // complete: keepUntil = at + keep (default 48 h)
	want  core.ClaimResult
	err   error // complete/release: nil or core.ErrNotOwner
}

func claimStep(owner, body string, at time.Duration, want core.ClaimResult) step {
	return step{op: "claim", owner: owner, body: body, at: at, want: want}
}

func completeStep(owner string, at time.Duration, err error) step {
	return step{op: "complete", owner: owner, body: "b1", at: at, err: err}
}

func releaseStep(owner string, at time.Duration, err error) step {
	return step{op: "release", owner: owner, body: "b1", at: at, err: err}
}

// The idempotency rules of core.Store as call sequences. They run first
// against core.MemoryStore (the reference), then against Firestore with the
// per-process hints on, off, and with every call going to a different
// instance, so that each verdict is shown to come from the shared record.
var scenarios = []struct {
	name  string
	steps []step
}{
	{"new, then duplicate, then conflict", []step{
		claimStep("A", "b1", 0, core.Claimed),
		completeStep("A", time.Second, nil),
		claimStep("B", "b1", 2*time.Second, core.Duplicate),
		claimStep("C", "b2", 3*time.Second, core.Conflict),
		claimStep("D", "b1", 47*time.Hour, core.Duplicate),
	}},
	{"live lease answers in progress", []step{
		claimStep("A", "b1", 0, core.Claimed),
		claimStep("B", "b1", time.Second, core.InProgress),
		claimStep("C", "b2", time.Second, core.Conflict),
		claimStep("D", "b1", 59*time.Second, core.InProgress),
	}},
	{"crashed owner is taken over after its lease", []step{
		claimStep("A", "b1", 0, core.Claimed),
		claimStep("B", "b1", 30*time.Second, core.InProgress),
		claimStep("C", "b1", 61*time.Second, core.Claimed),
		completeStep("A", 62*time.Second, core.ErrNotOwner),
		releaseStep("A", 62*time.Second, core.ErrNotOwner),
		claimStep("D", "b1", 63*time.Second, core.InProgress),
		completeStep("C", 64*time.Second, nil),
		claimStep("E", "b1", 65*time.Second, core.Duplicate),
	}},
	{"expired lease may be taken with another body", []step{
		claimStep("A", "b1", 0, core.Claimed),
		claimStep("B", "b2", 61*time.Second, core.Claimed),
		claimStep("C", "b1", 62*time.Second, core.Conflict),
	}},
	{"release lets the next delivery in", []step{
		claimStep("A", "b1", 0, core.Claimed),
		releaseStep("A", time.Second, nil),
		claimStep("B", "b1", 2*time.Second, core.Claimed),
		completeStep("B", 3*time.Second, nil),
		claimStep("C", "b1", 4*time.Second, core.Duplicate),
	}},
	{"released while another delivery waited", []step{
		claimStep("A", "b1", 0, core.Claimed),
		claimStep("B", "b1", time.Second, core.InProgress),
		releaseStep("A", 2*time.Second, nil),
		claimStep("C", "b1", 3*time.Second, core.Claimed),
		claimStep("D", "b1", 4*time.Second, core.InProgress),
	}},
	{"non-owner release and complete have no effect", []step{
		claimStep("A", "b1", 0, core.Claimed),
		releaseStep("X", time.Second, core.ErrNotOwner),
		completeStep("X", time.Second, core.ErrNotOwner),
		claimStep("B", "b1", 2*time.Second, core.InProgress),
		completeStep("A", 3*time.Second, nil),
		claimStep("B", "b1", 4*time.Second, core.Duplicate),
	}},
	{"completed record is final", []step{
		claimStep("A", "b1", 0, core.Claimed),
		completeStep("A", time.Second, nil),
		completeStep("A", 2*time.Second, core.ErrNotOwner),
		releaseStep("A", 3*time.Second, core.ErrNotOwner),
		claimStep("B", "b1", 4*time.Second, core.Duplicate),
	}},
	{"expired completed record counts as absent", []step{
		claimStep("A", "b1", 0, core.Claimed),
		completeStep("A", time.Second, nil),
		claimStep("B", "b1", 49*time.Hour, core.Claimed),
		claimStep("C", "b1", 49*time.Hour+time.Second, core.InProgress),
	}},
	{"complete or release of an absent record", []step{
		completeStep("A", 0, core.ErrNotOwner),
		releaseStep("A", 0, core.ErrNotOwner),
		claimStep("A", "b1", time.Second, core.Claimed),
	}},
}

func runScenario(t *testing.T, key string, stores []core.Store, steps []step) {
	t.Helper()
	ctx := context.Background()
	t0 := time.Now().Truncate(time.Millisecond)
	for i, st := range steps {
		s := stores[i%len(stores)]
		lease, keep := st.lease, st.keep
		if lease == 0 {
			lease = time.Minute
		}
		if keep == 0 {
			keep = 48 * time.Hour
		}
		now := t0.Add(st.at)
		c := core.Claim{Key: key, Owner: st.owner, BodyHash: core.HashBody([]byte(st.body)), EventType: "batch.succeeded", Now: now, LeaseUntil: now.Add(lease)}
		switch st.op {
		case "claim":
			got, err := s.Claim(ctx, c)
			if err != nil || got != st.want {
				t.Fatalf("step %d: claim by %s at +%s = %v, %v; want %v", i, st.owner, st.at, got, err, st.want)
			}
		case "complete", "release":
			var err error
			if st.op == "complete" {
				err = s.Complete(ctx, c, now.Add(keep))
			} else {
				err = s.Release(ctx, c)
			}
			if !errors.Is(err, st.err) || (st.err == nil) != (err == nil) {
				t.Fatalf("step %d: %s by %s = %v; want %v", i, st.op, st.owner, err, st.err)
			}
		}
	}
}

func TestScenarios(t *testing.T) {
	cfg := newConfig(t)
	noHints := cfg
	noHints.Hints = -1
	variants := []struct {
		name   string
		stores func() []core.Store
	}{
		{"memory reference", func() []core.Store { return []core.Store{core.NewMemoryStore(0)} }},
		{"firestore", func() []core.Store { return []core.Store{open(t, cfg)} }},
		{"firestore without hints", func() []core.Store { return []core.Store{open(t, noHints)} }},
		{"firestore, each call another instance", func() []core.Store { return []core.Store{open(t, cfg), open(t, cfg), open(t, cfg)} }},
	}
	for vi, v := range variants {
		for si, sc := range scenarios {
			t.Run(v.name+"/"+sc.name, func(t *testing.T) {
				runScenario(t, fmt.Sprintf("msg_%d_%d", vi, si), v.stores(), sc.steps)
			})
		}
	}
}

// The document carries what an operator and a TTL policy need, with
// Timestamps (not strings) for the times.
func TestRecordDocument(t *testing.T) {
	cfg := newConfig(t)
	s := open(t, cfg)
	ctx := context.Background()
	t0 := time.Now().Truncate(time.Microsecond)
	a := core.Claim{Key: "msg/doc", Owner: "A", BodyHash: core.HashBody([]byte("x")), EventType: "batch.failed", Now: t0, LeaseUntil: t0.Add(time.Minute)}
	if got, err := s.Claim(ctx, a); err != nil || got != core.Claimed {
		t.Fatal(got, err)
	}
	raw := func() map[string]any {
		snap, err := s.records.Doc(DocID(a.Key)).Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return snap.Data()
	}
	d := raw()
	want := map[string]any{
		"key": "msg/doc", "state": "in_progress", "owner": "A", "eventType": "batch.failed",
		"bodySha256": "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881",
		"leaseUntil": t0.Add(time.Minute), "firstSeen": t0, "expireAt": t0.Add(time.Minute),
	}
	for k, v := range want {
		if tv, ok := v.(time.Time); ok {
			if got, ok := d[k].(time.Time); !ok || !got.Equal(tv) {
				t.Errorf("%s = %#v, want Timestamp %v", k, d[k], tv)
			}
		} else if d[k] != v {
			t.Errorf("%s = %#v, want %#v", k, d[k], v)
		}
	}
	if _, ok := d["finishedAt"]; ok {
		t.Errorf("finishedAt set on an in-progress record")
	}

	// A takeover keeps firstSeen; completion sets finishedAt and moves expireAt to the TTL end.
	t1 := t0.Add(2 * time.Minute)
	b := a
	b.Owner, b.Now, b.LeaseUntil = "B", t1, t1.Add(time.Minute)
	if got, err := s.Claim(ctx, b); err != nil || got != core.Claimed {
		t.Fatal(got, err)
	}
	b.Now = t1.Add(time.Second)
	keep := t1.Add(48 * time.Hour)
	if err := s.Complete(ctx, b, keep); err != nil {
		t.Fatal(err)
	}
	d = raw()
	if d["owner"] != "B" || d["state"] != "completed" || !d["firstSeen"].(time.Time).Equal(t0) ||
		!d["finishedAt"].(time.Time).Equal(b.Now) || !d["expireAt"].(time.Time).Equal(keep) {
		t.Errorf("after takeover and completion: %v", d)
	}
}

// 50 claims of one id at once, spread over 5 instances: exactly one wins,
// whether the id is new or its record is expired and must be taken over.
func TestConcurrentClaimsOneWinner(t *testing.T) {
	cfg := newConfig(t)
	cfg.CallTimeout = 30 * time.Second // this checks who wins, not how fast, on a shared machine
	stores := make([]*Store, 5)
	for i := range stores {
		stores[i] = open(t, cfg)
	}
	ctx := context.Background()
	now := time.Now()
	hash := core.HashBody([]byte("body"))
	past := func(owner string) core.Claim {
		return core.Claim{Key: "", Owner: owner, BodyHash: hash, Now: now.Add(-time.Hour), LeaseUntil: now.Add(-59 * time.Minute)}
	}
	tests := []struct {
		name  string
		setup func(key string)
	}{
		{"new id", func(string) {}},
		{"expired lease", func(key string) {
			c := past("crashed")
			c.Key = key
			if got, err := stores[0].Claim(ctx, c); err != nil || got != core.Claimed {
				t.Fatal(got, err)
			}
		}},
		{"expired completed record", func(key string) {
			c := past("old")
			c.Key = key
			if got, err := stores[0].Claim(ctx, c); err != nil || got != core.Claimed {
				t.Fatal(got, err)
			}
			if err := stores[0].Complete(ctx, c, now.Add(-time.Minute)); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for ti, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := fmt.Sprintf("msg_race_%d", ti)
			tt.setup(key)
			const n = 50
			results := make([]core.ClaimResult, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					c := core.Claim{Key: key, Owner: fmt.Sprintf("owner-%d", i), BodyHash: hash, Now: now, LeaseUntil: now.Add(time.Minute)}
					results[i], errs[i] = stores[i%len(stores)].Claim(ctx, c)
				}()
			}
			close(start)
			wg.Wait()
			winners := []int{}
			for i := range n {
				if errs[i] != nil {
					t.Errorf("claim %d: %v", i, errs[i])
					continue
				}
				switch results[i] {
				case core.Claimed:
					winners = append(winners, i)
				case core.InProgress:
				default:
					t.Errorf("claim %d: %v", i, results[i])
				}
			}
			if len(winners) != 1 {
				t.Fatalf("winners %v, want exactly one", winners)
			}
			rec, err := stores[0].Get(ctx, key)
			if err != nil || rec.Owner != fmt.Sprintf("owner-%d", winners[0]) || rec.State != core.StateInProgress {
				t.Fatalf("record %+v %v, want owned by the winner", rec, err)
			}
		})
	}
}

// A store whose Firestore cannot be reached answers errors, never a
// verdict, and does so within its call timeout.
func TestUnreachableFirestoreIsAnError(t *testing.T) {
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", port), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cfg := newConfig(t)
	cfg.CallTimeout = 500 * time.Millisecond
	cfg.ClientOptions = []option.ClientOption{option.WithGRPCConn(conn)}
	s := open(t, cfg)
	ctx := context.Background()
	now := time.Now()
	c := core.Claim{Key: "msg_down", Owner: "A", BodyHash: core.HashBody(nil), Now: now, LeaseUntil: now.Add(time.Minute)}
	got, err := s.Claim(ctx, c)
	if err == nil || got != 0 {
		t.Fatalf("claim = %v, %v; want an error and no verdict", got, err)
	}
	if err := s.Complete(ctx, c, now.Add(time.Hour)); err == nil || errors.Is(err, core.ErrNotOwner) {
		t.Fatalf("complete = %v; want a store error", err)
	}
	if err := s.Release(ctx, c); err == nil || errors.Is(err, core.ErrNotOwner) {
		t.Fatalf("release = %v; want a store error", err)
	}
	if err := s.PutDeadLetter(ctx, core.DeadLetter{Key: "x"}); err == nil {
		t.Fatal("dead letter stored without a store")
	}
}

// FIRESTORE_DATABASE and FIRESTORE_COLLECTION each give a separate key space.
func TestDatabaseAndCollectionAreSeparate(t *testing.T) {
	base := newConfig(t)
	otherDB, otherColl := base, base
	otherDB.DatabaseID = "receiver-db"
	otherColl.Collection = "other_deliveries"
	ctx := context.Background()
	now := time.Now()
	c := core.Claim{Key: "msg_same", Owner: "A", BodyHash: core.HashBody([]byte("x")), Now: now, LeaseUntil: now.Add(time.Minute)}
	for _, cfg := range []Config{base, otherDB, otherColl} {
		if got, err := open(t, cfg).Claim(ctx, c); err != nil || got != core.Claimed {
			t.Fatalf("%s/%s: %v %v, want a separate, fresh key space", cfg.DatabaseID, cfg.Collection, got, err)
		}
	}
	c.Owner = "B"
	if got, err := open(t, base).Claim(ctx, c); err != nil || got != core.InProgress {
		t.Fatalf("same database and collection again: %v %v", got, err)
	}
}

// The client retries a Commit whose answer was lost; if the first attempt
// had landed, the retry sees its own claim (storetest.OwnRetriedClaim).
func TestClaimRecognisesItsOwnLandedWrite(t *testing.T) {
	storetest.OwnRetriedClaim(t, open(t, newConfig(t)))
}
