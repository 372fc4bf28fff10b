package dynamodb

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/reconcile"
)

// rawItem reads an item as stored, to check what DynamoDB itself sees.
func rawItem(t *testing.T, table, pk, sk string) map[string]types.AttributeValue {
	t.Helper()
	out, err := newClient(nil).GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(table), Key: keyOf(pk, sk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	return out.Item
}

// A crashed owner's claim is taken over once its lease has expired, by
// another instance, keeping the first firstSeen; only the current owner
// may release or complete; the TTL attribute follows the record's expiry
// (epoch seconds, never before it), so DynamoDB deletes nothing the store
// still counts.
func TestTakeoverAndOwnership(t *testing.T) {
	ctx := context.Background()
	table := newTable(t)
	a, b := open(t, table, nil), open(t, table, nil)
	t0 := time.Now().Truncate(time.Millisecond).Add(300 * time.Microsecond)
	hash := core.HashBody([]byte(`{"type":"batch.succeeded"}`))
	claim := func(owner string, at time.Time) core.Claim {
		return core.Claim{Key: "msg_takeover", Owner: owner, BodyHash: hash, Now: at, LeaseUntil: at.Add(time.Minute)}
	}
	crashed := claim("crashed", t0)
	if got, err := a.Claim(ctx, crashed); err != nil || got != core.Claimed {
		t.Fatalf("first claim: %v, %v", got, err)
	}
	ttl := func() int64 {
		return getN(rawItem(t, table, itemPK(kindDelivery, "msg_takeover"), kindDelivery), AttrTTL)
	}
	if got, want := ttl(), t0.Add(time.Minute).Unix()+1; got != want {
		t.Errorf("%s while in progress = %d, want the lease end rounded up, %d", AttrTTL, got, want)
	}
	if got, err := b.Claim(ctx, claim("early", t0.Add(59*time.Second))); err != nil || got != core.InProgress {
		t.Fatalf("claim before the lease ends: %v, %v; want in_progress", got, err)
	}
	t1 := t0.Add(61 * time.Second)
	taker := claim("taker", t1)
	if got, err := b.Claim(ctx, taker); err != nil || got != core.Claimed {
		t.Fatalf("claim after the lease ended: %v, %v; want claimed", got, err)
	}
	rec, err := a.Get(ctx, "msg_takeover")
	if err != nil || rec.Owner != "taker" || !rec.FirstSeen.Equal(t0) || !rec.LeaseUntil.Equal(t1.Add(time.Minute)) {
		t.Fatalf("after the takeover: %+v, %v; want owner taker, firstSeen %s kept", rec, err, t0)
	}
	// The crashed owner wakes up: neither its release nor its completion counts.
	if err := a.Release(ctx, crashed); !errors.Is(err, core.ErrNotOwner) {
		t.Fatalf("release by the old owner: %v, want ErrNotOwner", err)
	}
	if err := a.Complete(ctx, crashed, t1.Add(48*time.Hour)); !errors.Is(err, core.ErrNotOwner) {
		t.Fatalf("complete by the old owner: %v, want ErrNotOwner", err)
	}
	if got, err := a.Claim(ctx, claim("third", t1.Add(time.Second))); err != nil || got != core.InProgress {
		t.Fatalf("claim while the taker holds it: %v, %v; want in_progress", got, err)
	}
	// The owner releases: the next delivery is processed.
	if err := b.Release(ctx, taker); err != nil {
		t.Fatal(err)
	}
	if rec, err := a.Get(ctx, "msg_takeover"); err != nil || rec != nil {
		t.Fatalf("after release: %+v, %v; want absent", rec, err)
	}
	if err := b.Release(ctx, taker); !errors.Is(err, core.ErrNotOwner) {
		t.Fatalf("second release: %v, want ErrNotOwner", err)
	}
	again := claim("again", t1.Add(2*time.Second))
	if got, err := a.Claim(ctx, again); err != nil || got != core.Claimed {
		t.Fatalf("claim after release: %v, %v", got, err)
	}
	keep := t1.Add(48 * time.Hour)
	if err := a.Complete(ctx, again, keep); err != nil {
		t.Fatal(err)
	}
	if got, want := ttl(), keep.Unix()+1; got != want {
		t.Errorf("%s once completed = %d, want IDEMPOTENCY_TTL's end rounded up, %d", AttrTTL, got, want)
	}
	// Expired but not yet deleted by DynamoDB (its deletion is lazy): absent.
	if got, err := b.Claim(ctx, claim("late", keep.Add(time.Nanosecond))); err != nil || got != core.Claimed {
		t.Fatalf("claim after the record expired: %v, %v; want claimed", got, err)
	}
	if rec, _ := a.Get(ctx, "msg_takeover"); !rec.FirstSeen.Equal(keep.Add(time.Nanosecond)) {
		t.Errorf("a claim over an expired completed record starts a new history: firstSeen %s", rec.FirstSeen)
	}
}

// Ids DynamoDB cannot take as they are (not UTF-8, or too long) are kept
// under a hash of themselves, and still tell apart.
func TestOddKeys(t *testing.T) {
	ctx := context.Background()
	s := open(t, newTable(t), nil)
	now := time.Now()
	long := string(bytes.Repeat([]byte("k"), 3000))
	keys := []string{"msg/slash#hash", "\xff\xfe", long, long + "x", "delivery#x", ""}
	for i, k := range keys {
		c := core.Claim{Key: k, Owner: strconv.Itoa(i), BodyHash: core.HashBody([]byte(k)), Now: now, LeaseUntil: now.Add(time.Minute)}
		if got, err := s.Claim(ctx, c); err != nil || got != core.Claimed {
			t.Fatalf("claim %d: %v, %v", i, got, err)
		}
	}
	for i, k := range keys {
		if rec, err := s.Get(ctx, k); err != nil || rec == nil || rec.Owner != strconv.Itoa(i) {
			t.Fatalf("key %d: %+v, %v", i, rec, err)
		}
	}
}

func TestDeadLetters(t *testing.T) {
	ctx := context.Background()
	table := newTable(t)
	s := open(t, table, nil)
	t0 := time.Now().Truncate(time.Millisecond)
	big := bytes.Repeat([]byte("0123456789abcdef"), 100_000) // 1.6 MB: over an item's 400 KB
	letters := []core.DeadLetter{
		{Key: "msg_small", Scheme: core.SchemeStatic, Reason: "not json", Body: []byte("{nope"), ReceivedAt: t0},
		{Key: "msg/big", Scheme: core.SchemeDynamic, EventType: "batch.x", Reason: "version v9", Body: big, ReceivedAt: t0.Add(time.Second), Attempts: 3},
		{Key: "msg_empty", Scheme: core.SchemeStatic, Reason: "empty", ReceivedAt: t0.Add(2 * time.Second)},
	}
	for _, d := range letters {
		if err := s.PutDeadLetter(ctx, d); err != nil {
			t.Fatalf("put %s: %v", d.Key, err)
		}
	}
	// Put is idempotent per key: the same letter again changes nothing.
	if err := s.PutDeadLetter(ctx, letters[1]); err != nil {
		t.Fatal(err)
	}
	got, err := open(t, table, nil).ListDeadLetters(ctx, 0) // another instance
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(letters) {
		t.Fatalf("listed %d, want %d", len(got), len(letters))
	}
	for i, d := range letters {
		g := got[i]
		if g.Key != d.Key || g.Scheme != d.Scheme || g.EventType != d.EventType || g.Reason != d.Reason ||
			!bytes.Equal(g.Body, d.Body) || !g.ReceivedAt.Equal(d.ReceivedAt) || g.Attempts != d.Attempts {
			t.Errorf("letter %d: got %s (%d bytes), want %s (%d bytes)", i, g.Key, len(g.Body), d.Key, len(d.Body))
		}
	}
	if two, err := s.ListDeadLetters(ctx, 2); err != nil || len(two) != 2 || two[0].Key != "msg_small" || two[1].Key != "msg/big" {
		t.Fatalf("limit 2: %d letters, %v", len(two), err)
	}

	// Overwriting the big letter with a small body, then deleting it, leaves nothing behind.
	small := letters[1]
	small.Body = []byte("short")
	if err := s.PutDeadLetter(ctx, small); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ListDeadLetters(ctx, 0); len(got) != 3 || string(got[1].Body) != "short" {
		t.Fatalf("after overwrite: %+v", got)
	}
	for _, d := range letters {
		if err := s.DeleteDeadLetter(ctx, d.Key); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteDeadLetter(ctx, "msg_never"); err != nil {
		t.Fatalf("deleting an absent letter: %v", err)
	}
	if got, err := s.ListDeadLetters(ctx, 0); err != nil || len(got) != 0 {
		t.Fatalf("after delete: %d letters, %v", len(got), err)
	}
	scan, err := newClient(nil).Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table)})
	if err != nil || len(scan.Items) != 0 {
		t.Fatalf("items left after delete: %d, %v", len(scan.Items), err)
	}
}

// TestLastRun: nothing before the first run; then the newest run, read by
// another instance; the item is no delivery record.
func TestLastRun(t *testing.T) {
	ctx := context.Background()
	table := newTable(t)
	a, b := open(t, table, nil), open(t, table, nil)
	if r, err := b.LastRun(ctx); err != nil || r != nil {
		t.Fatalf("before any run: %v, %v; want nil, nil", r, err)
	}
	at := time.Date(2026, 12, 1, 11, 48, 0, 0, time.UTC)
	want := reconcile.LastRun{At: at, Took: 1500 * time.Millisecond, Seen: 40, Applied: 2, Landed: 1, Failed: 1, Problems: 1, CutOff: true, Error: "list: 503"}
	for _, r := range []reconcile.LastRun{{At: at.Add(-15 * time.Minute), Seen: 7, Error: "earlier"}, want} {
		if err := a.PutLastRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := b.LastRun(ctx)
	if err != nil || got == nil {
		t.Fatalf("%v, %v", got, err)
	}
	if *got != want {
		t.Fatalf("got %+v, want %+v", *got, want)
	}
	if err := a.PutLastRun(ctx, reconcile.LastRun{At: at.Add(time.Hour), Seen: 1}); err != nil {
		t.Fatal(err)
	}
	if got, err := b.LastRun(ctx); err != nil || got.Error != "" || got.CutOff || got.Seen != 1 {
		t.Fatalf("a run without an error keeps none of the last one's: %+v, %v", got, err)
	}
}
