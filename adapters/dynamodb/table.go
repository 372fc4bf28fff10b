package dynamodb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The table's key schema and the attributes other tools (the SAM template,
// an IAM policy, the console) need to know. See the package documentation
// for the items.
const (
	// AttrPK and AttrSK are the table's partition and sort keys (strings).
	AttrPK = "pk"
	AttrSK = "sk"
	// ListIndex is the sparse global secondary index (keys only) through
	// which jobs and dead letters are listed: AttrListPK is "job" or
	// "deadletter", AttrListSK orders them by time.
	ListIndex  = "list"
	AttrListPK = "lpk"
	AttrListSK = "lsk"
	// AttrTTL is the attribute DynamoDB's time to live reads (epoch
	// seconds): enable TTL on it. Deletion is lazy (up to a few days), so
	// the store compares its own expiry and never trusts a record's
	// presence alone.
	AttrTTL = "expiration"
)

// Item kinds: the sort key of an item, and the prefix of its partition key.
const (
	kindDelivery   = "delivery"
	kindJob        = "job"
	kindDeadLetter = "deadletter"
	kindChunk      = "chunk#" // + 6-digit index, under a dead letter's partition
	pkReconcile    = "reconcile"
	skLastRun      = "last"
)

// maxKeyBytes keeps a partition key, and the list index's sort key that
// repeats it, well inside DynamoDB's limits (2048 and 1024 bytes).
const maxKeyBytes = 512

// itemPK is the partition key of an item of kind for id: kind#id, or, for
// an id that is not valid UTF-8 (DynamoDB strings must be) or is too long,
// kind!<hex SHA-256 of id>. The two forms cannot meet ('#' against '!'),
// so the mapping is injective.
func itemPK(kind, id string) string {
	if utf8.ValidString(id) && len(id) <= maxKeyBytes {
		return kind + "#" + id
	}
	sum := sha256.Sum256([]byte(id))
	return kind + "!" + hex.EncodeToString(sum[:])
}

// keyOf is the primary key of an item.
func keyOf(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{AttrPK: str(pk), AttrSK: str(sk)}
}

// listSK orders an item in ListIndex by t, then by id.
func listSK(t time.Time, id string) string {
	ns := int64(0)
	if !t.IsZero() {
		ns = t.UnixNano()
	}
	// Fixed width, so that the string order is the time order (times
	// before 1970 are not expected; they sort first).
	return leftPad(strconv.FormatInt(max(ns, 0), 10), 20) + "#" + id
}

func leftPad(s string, n int) string {
	for len(s) < n {
		s = "0" + s
	}
	return s
}

// TableInput is the CreateTable request for a table named name, as the
// store expects it: on-demand billing, the key schema and ListIndex. Enable
// time to live on AttrTTL separately (UpdateTimeToLive).
func TableInput(name string) *dynamodb.CreateTableInput {
	return &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(AttrPK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(AttrSK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(AttrListPK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(AttrListSK), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(AttrPK), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(AttrSK), KeyType: types.KeyTypeRange},
		},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName: aws.String(ListIndex),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(AttrListPK), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(AttrListSK), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly},
		}},
	}
}

// Attribute value helpers.

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }
func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// nanos is t as a number attribute (unix nanoseconds; 0 for the zero time).
func nanos(t time.Time) types.AttributeValue {
	if t.IsZero() {
		return num(0)
	}
	return num(t.UnixNano())
}

// ttlSeconds is t in epoch seconds, rounded up so that DynamoDB never
// deletes an item before the store itself treats it as expired.
func ttlSeconds(t time.Time) types.AttributeValue {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return num(s)
}

func getS(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func getB(item map[string]types.AttributeValue, name string) []byte {
	if v, ok := item[name].(*types.AttributeValueMemberB); ok {
		return v.Value
	}
	return nil
}

func getN(item map[string]types.AttributeValue, name string) int64 {
	if v, ok := item[name].(*types.AttributeValueMemberN); ok {
		n, _ := strconv.ParseInt(v.Value, 10, 64)
		return n
	}
	return 0
}

// getTime reads a nanos attribute back (the zero time for 0 or absent).
func getTime(item map[string]types.AttributeValue, name string) time.Time {
	n := getN(item, name)
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// CreateTable creates the table named name (TableInput), waits until it is
// active, and turns time to live on for AttrTTL: what the SAM template
// deploys, for tests and for a table made by hand.
func CreateTable(ctx context.Context, client *dynamodb.Client, name string) error {
	if _, err := client.CreateTable(ctx, TableInput(name)); err != nil {
		return fmt.Errorf("dynamodb create table %s: %w", name, err)
	}
	w := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = 100 * time.Millisecond })
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, 2*time.Minute); err != nil {
		return fmt.Errorf("dynamodb create table %s: %w", name, err)
	}
	_, err := client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String(name),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(AttrTTL), Enabled: aws.Bool(true)},
	})
	if err != nil {
		return fmt.Errorf("dynamodb create table %s: time to live: %w", name, err)
	}
	return nil
}
