package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/geminiwebhooks/receiver/core"
)

// Defaults of Config.
const (
	DefaultCallTimeout = 5 * time.Second
	DefaultHints       = 10_000
	DefaultHintsFor    = 15 * time.Minute
)

// maxAttempts bounds the claim loop; each retry means another writer
// changed the record between two of our requests.
const maxAttempts = 8

// Attributes of a delivery record. Times are unix nanoseconds, so that a
// condition compares them exactly as core.Decide does.
const (
	attrKey        = "key" // the delivery id as sent; the partition key may be hashed
	attrState      = "state"
	attrOwner      = "owner"
	attrBodySHA256 = "bodySha256" // binary, 32 bytes
	attrEventType  = "eventType"
	attrLeaseUntil = "leaseUntil"
	attrFirstSeen  = "firstSeen"
	attrFinishedAt = "finishedAt"
	attrExpireAt   = "expireAt" // lease end while in progress, then the end of IDEMPOTENCY_TTL
)

// Config says where the records live.
type Config struct {
	// Table is the DynamoDB table (DYNAMODB_TABLE); required.
	Table string
	// Client, when set, is used; otherwise one is built from the default
	// AWS configuration (environment, shared files, the Lambda's role),
	// which honours AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_DYNAMODB.
	Client *dynamodb.Client
	// CallTimeout bounds every call (the caller's deadline still applies). 0: 5 s.
	CallTimeout time.Duration
	// Hints is how many recently completed delivery ids this process
	// remembers, so that a duplicate it saw complete costs no request.
	// 0: 10 000; negative: off.
	Hints int
	// HintsFor bounds how long one is remembered, so that an operator who
	// deletes a record by hand (to force a replay) is heard within
	// minutes. 0: 15 min.
	HintsFor time.Duration
}

// Store implements core.Store, core.DeadLetters and reconcile.RunLog on one
// DynamoDB table.
type Store struct {
	client   *dynamodb.Client
	table    *string
	timeout  time.Duration
	hints    *lru[hint]
	hintsFor time.Duration
}

// hint is what this process knows of a completed delivery: it cannot
// change before its expiry (no claim takes a live completed record over;
// Complete and Release act on in-progress records only).
type hint struct {
	hash  [32]byte
	until time.Time
}

var (
	_ core.Store       = (*Store)(nil)
	_ core.DeadLetters = (*Store)(nil)
)

// New opens the store. Building the client makes no network call.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Table == "" {
		return nil, errors.New("dynamodb store: no table (DYNAMODB_TABLE)")
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.Hints == 0 {
		cfg.Hints = DefaultHints
	}
	if cfg.HintsFor <= 0 {
		cfg.HintsFor = DefaultHintsFor
	}
	client := cfg.Client
	if client == nil {
		c, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("dynamodb store: aws config: %w", err)
		}
		client = dynamodb.NewFromConfig(c)
	}
	return &Store{client: client, table: aws.String(cfg.Table), timeout: cfg.CallTimeout,
		hints: newLRU[hint](cfg.Hints), hintsFor: cfg.HintsFor}, nil
}

// Client is the store's DynamoDB client, so a ledger can share it.
func (s *Store) Client() *dynamodb.Client { return s.client }

// Table is the store's table name.
func (s *Store) Table() string { return *s.table }

// Close releases nothing: the client holds no connection that needs it.
// It is here so the store closes like the others.
func (s *Store) Close() error { return nil }

// Claim is one conditional PutItem: it writes the in-progress record if
// none is there or the one there has expired (a new delivery, or a
// takeover of a crashed owner's lease), and otherwise fails returning the
// live record (ReturnValuesOnConditionCheckFailure), which core.Decide
// turns into the verdict. So a new delivery and a duplicate each cost one
// request, and a duplicate this process saw complete costs none.
func (s *Store) Claim(ctx context.Context, c core.Claim) (core.ClaimResult, error) {
	if h, ok := s.hints.get(c.Key); ok && h.until.After(c.Now) {
		if h.hash == c.BodyHash {
			return core.Duplicate, nil
		}
		return core.Conflict, nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	pk := itemPK(kindDelivery, c.Key)
	for range maxAttempts {
		_, rec := core.Decide(nil, c)
		out, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                           s.table,
			Item:                                recordItem(pk, c.Key, rec),
			ConditionExpression:                 aws.String("attribute_not_exists(#pk) OR #exp <= :now"),
			ExpressionAttributeNames:            map[string]string{"#pk": AttrPK, "#exp": attrExpireAt},
			ExpressionAttributeValues:           map[string]types.AttributeValue{":now": nanos(c.Now)},
			ReturnValues:                        types.ReturnValueAllOld,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
		if err == nil {
			// The claim is ours whatever becomes of its history: an error
			// here must not answer 503 for a claim we hold (it would
			// strand the delivery for a lease), so it is dropped.
			_ = s.keepHistory(ctx, pk, c, out.Attributes)
			return core.Claimed, nil
		}
		var failed *types.ConditionalCheckFailedException
		if !errors.As(err, &failed) {
			return 0, fmt.Errorf("dynamodb claim %q: %w", c.Key, err)
		}
		live := failed.Item
		if live == nil {
			// A DynamoDB that does not return the item: read it (one more request).
			if live, err = s.getItem(ctx, pk, kindDelivery); err != nil {
				return 0, fmt.Errorf("dynamodb claim %q: %w", c.Key, err)
			}
			if live == nil {
				continue // deleted meanwhile: claim again
			}
		}
		existing, err := decodeRecord(live)
		if err != nil {
			return 0, fmt.Errorf("dynamodb claim %q: %w", c.Key, err)
		}
		if existing.State == core.StateInProgress && existing.Owner == c.Owner {
			// Our own write landed although its answer was lost and the
			// SDK retried it: the claim is ours.
			return core.Claimed, nil
		}
		verdict, won := core.Decide(existing, c)
		if won != nil {
			continue // it expired between the condition and now: claim again
		}
		if existing.State == core.StateCompleted {
			s.remember(c.Key, existing.BodyHash, c.Now, existing.ExpireAt)
		}
		return verdict, nil
	}
	return 0, fmt.Errorf("dynamodb claim %q: record kept changing after %d attempts", c.Key, maxAttempts)
}

// keepHistory: a takeover of the same delivery (a crashed owner's expired
// lease) keeps the first owner's firstSeen, as core.Decide does. The
// conditional write replaced the record whole, so the old one (ALL_OLD)
// says whether one more update is due; it is conditioned on our ownership.
func (s *Store) keepHistory(ctx context.Context, pk string, c core.Claim, old map[string]types.AttributeValue) error {
	if len(old) == 0 {
		return nil
	}
	prev, err := decodeRecord(old)
	if err != nil || prev.State != core.StateInProgress || prev.BodyHash != c.BodyHash || !prev.FirstSeen.Before(c.Now) {
		return nil // nothing to keep (a corrupt old record has no history worth a failure)
	}
	_, err = s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 s.table,
		Key:                       keyOf(pk, kindDelivery),
		UpdateExpression:          aws.String("SET #first = :first"),
		ConditionExpression:       aws.String("#owner = :owner AND #state = :ip"),
		ExpressionAttributeNames:  map[string]string{"#first": attrFirstSeen, "#owner": attrOwner, "#state": attrState},
		ExpressionAttributeValues: map[string]types.AttributeValue{":first": nanos(prev.FirstSeen), ":owner": str(c.Owner), ":ip": str(string(core.StateInProgress))},
	})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return nil // taken over again already: the newer owner's record stands
	}
	return err
}

func (s *Store) remember(key string, hash [32]byte, now, until time.Time) {
	if lim := now.Add(s.hintsFor); until.After(lim) {
		until = lim
	}
	if until.After(now) {
		s.hints.put(key, hint{hash: hash, until: until})
	}
}

// ownedCondition holds only while c's owner holds the in-progress record:
// owners are random per attempt, so no other claim can match it.
func ownedCondition(c core.Claim) (*string, map[string]string, map[string]types.AttributeValue) {
	return aws.String("#owner = :owner AND #state = :ip"),
		map[string]string{"#owner": attrOwner, "#state": attrState},
		map[string]types.AttributeValue{":owner": str(c.Owner), ":ip": str(string(core.StateInProgress))}
}

// Complete marks the claim done, only if c's owner still holds it: one
// conditional UpdateItem.
func (s *Store) Complete(ctx context.Context, c core.Claim, keepUntil time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	finished := c.Now
	if finished.IsZero() {
		finished = time.Now()
	}
	cond, names, values := ownedCondition(c)
	names["#fin"], names["#exp"], names["#ttl"] = attrFinishedAt, attrExpireAt, AttrTTL
	values[":done"], values[":fin"], values[":exp"], values[":ttl"] = str(string(core.StateCompleted)), nanos(finished), nanos(keepUntil), ttlSeconds(keepUntil)
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 s.table,
		Key:                       keyOf(itemPK(kindDelivery, c.Key), kindDelivery),
		UpdateExpression:          aws.String("SET #state = :done, #fin = :fin, #exp = :exp, #ttl = :ttl"),
		ConditionExpression:       cond,
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	if err := ownerErr("complete", c.Key, err); err != nil {
		return err
	}
	s.remember(c.Key, c.BodyHash, finished, keepUntil)
	return nil
}

// Release deletes the claim, only if c's owner still holds it (one
// conditional DeleteItem), so Gemini's next attempt is processed.
func (s *Store) Release(ctx context.Context, c core.Claim) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	cond, names, values := ownedCondition(c)
	_, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 s.table,
		Key:                       keyOf(itemPK(kindDelivery, c.Key), kindDelivery),
		ConditionExpression:       cond,
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	return ownerErr("release", c.Key, err)
}

// ownerErr maps a failed ownership condition to core.ErrNotOwner.
func ownerErr(op, key string, err error) error {
	if err == nil {
		return nil
	}
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return fmt.Errorf("dynamodb %s %q: %w", op, key, core.ErrNotOwner)
	}
	return fmt.Errorf("dynamodb %s %q: %w", op, key, err)
}

// Get returns the record for key (nil when absent), for tests and the
// admin commands; a strongly consistent read.
func (s *Store) Get(ctx context.Context, key string) (*core.Record, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	item, err := s.getItem(ctx, itemPK(kindDelivery, key), kindDelivery)
	if err != nil {
		return nil, fmt.Errorf("dynamodb get %q: %w", key, err)
	}
	if item == nil {
		return nil, nil
	}
	return decodeRecord(item)
}

func (s *Store) getItem(ctx context.Context, pk, sk string) (map[string]types.AttributeValue, error) {
	return getItem(ctx, s.client, s.table, pk, sk)
}

// getItem reads one item, strongly consistent; nil when absent.
func getItem(ctx context.Context, client *dynamodb.Client, table *string, pk, sk string) (map[string]types.AttributeValue, error) {
	out, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: keyOf(pk, sk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, err
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	return out.Item, nil
}

// recordItem is r as the item of delivery key (partition key pk).
func recordItem(pk, key string, r *core.Record) map[string]types.AttributeValue {
	item := map[string]types.AttributeValue{
		AttrPK:         str(pk),
		AttrSK:         str(kindDelivery),
		attrKey:        str(key),
		attrState:      str(string(r.State)),
		attrOwner:      str(r.Owner),
		attrBodySHA256: &types.AttributeValueMemberB{Value: r.BodyHash[:]},
		attrLeaseUntil: nanos(r.LeaseUntil),
		attrFirstSeen:  nanos(r.FirstSeen),
		attrExpireAt:   nanos(r.ExpireAt),
		AttrTTL:        ttlSeconds(r.ExpireAt),
	}
	if r.EventType != "" {
		item[attrEventType] = str(r.EventType)
	}
	if !r.FinishedAt.IsZero() {
		item[attrFinishedAt] = nanos(r.FinishedAt)
	}
	return item
}

func decodeRecord(item map[string]types.AttributeValue) (*core.Record, error) {
	r := &core.Record{
		State:      core.RecordState(getS(item, attrState)),
		Owner:      getS(item, attrOwner),
		EventType:  getS(item, attrEventType),
		LeaseUntil: getTime(item, attrLeaseUntil),
		FirstSeen:  getTime(item, attrFirstSeen),
		FinishedAt: getTime(item, attrFinishedAt),
		ExpireAt:   getTime(item, attrExpireAt),
	}
	h := getB(item, attrBodySHA256)
	if len(h) != len(r.BodyHash) {
		return nil, fmt.Errorf("record %q: bad %s", getS(item, attrKey), attrBodySHA256)
	}
	copy(r.BodyHash[:], h)
	return r, nil
}
