package dynamodb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/reconcile"
	"github.com/geminiwebhooks/receiver/core/storetest"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
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

// The dead letters pass the suite every store's do (another instance
// reads them), and leave no item behind once deleted (the chunks of a big
// body included).
func TestDeadLetters(t *testing.T) {
	table := newTable(t)
	storetest.RunDeadLetters(t, func(t *testing.T) (core.DeadLetters, core.DeadLetters) {
		return open(t, table, nil), open(t, table, nil)
	})
	scan, err := newClient(nil).Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(table)})
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

// A store whose DynamoDB cannot be reached answers errors, never a
// verdict (the receiver answers 503 and Gemini retries), within its call
// timeout.
func TestUnreachableIsAnError(t *testing.T) {
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	c := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(fmt.Sprintf("http://127.0.0.1:%d", port)),
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")})
	s, err := New(context.Background(), Config{Table: "absent", Client: c, CallTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now()
	claim := core.Claim{Key: "msg_down", Owner: "A", BodyHash: core.HashBody(nil), Now: now, LeaseUntil: now.Add(time.Minute)}
	if got, err := s.Claim(ctx, claim); err == nil || got != 0 {
		t.Fatalf("claim = %v, %v; want an error and no verdict", got, err)
	}
	if err := s.Complete(ctx, claim, now.Add(time.Hour)); err == nil || errors.Is(err, core.ErrNotOwner) {
		t.Fatalf("complete = %v; want a store error", err)
	}
	if err := s.Release(ctx, claim); err == nil || errors.Is(err, core.ErrNotOwner) {
		t.Fatalf("release = %v; want a store error", err)
	}
	if err := s.PutDeadLetter(ctx, core.DeadLetter{Key: "x"}); err == nil {
		t.Fatal("dead letter stored without a store")
	}
	// A table that does not exist is an error too, not an absent record.
	if _, err := open(t, "no-such-table", nil).Claim(ctx, claim); err == nil {
		t.Fatal("claim in a missing table: no error")
	}
}

// The SDK retries a PutItem whose answer was lost; if the first attempt
// had landed, the retry finds its own claim (storetest.OwnRetriedClaim).
func TestClaimRecognisesItsOwnLandedWrite(t *testing.T) {
	storetest.OwnRetriedClaim(t, open(t, newTable(t), nil))
}

// A long reason (an error's text) is bounded without splitting a rune, so
// the item stays valid UTF-8 and small.
func TestClipReason(t *testing.T) {
	for _, tc := range []struct {
		in      string
		wantLen int
	}{
		{"short", 5},
		{strings.Repeat("a", maxReasonBytes), maxReasonBytes},
		{strings.Repeat("a", maxReasonBytes+1), maxReasonBytes},
		{"a" + strings.Repeat("é", maxReasonBytes), maxReasonBytes - 1}, // the cut falls inside an é
	} {
		got := clipReason(tc.in)
		if len(got) != tc.wantLen || !utf8.ValidString(got) || !strings.HasPrefix(tc.in, got) {
			t.Errorf("clipReason(%d bytes) = %d bytes (valid %v), want %d", len(tc.in), len(got), utf8.ValidString(got), tc.wantLen)
		}
	}
}
