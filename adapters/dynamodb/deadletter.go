package dynamodb

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/geminiwebhooks/receiver/core"
)

// An item holds at most 400 KB and WEBHOOK_MAX_BODY_BYTES is 1 MiB by
// default, so a larger body is split across chunk items in the dead
// letter's partition rather than lost (a failing Put would answer 503
// forever).
const (
	chunkBytes     = 350 << 10
	maxReasonBytes = 8 << 10
	// batchGetMax is BatchGetItem's limit of keys per request.
	batchGetMax = 100
)

// Attributes of a dead letter.
const (
	attrScheme     = "scheme"
	attrReason     = "reason"
	attrBody       = "body"
	attrBodyLen    = "bodyLen"
	attrBodyChunks = "bodyChunks" // > 0: the body is in chunk#000000…
	attrReceivedAt = "receivedAt"
	attrAttempts   = "attempts"
	attrData       = "data" // a chunk's bytes
)

// PutDeadLetter writes (or overwrites) the dead letter for d.Key. Chunks go
// first and the main item last, so a reader never sees a main item whose
// chunks are missing.
func (s *Store) PutDeadLetter(ctx context.Context, d core.DeadLetter) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	pk := itemPK(kindDeadLetter, d.Key)
	item := map[string]types.AttributeValue{
		AttrPK: str(pk), AttrSK: str(kindDeadLetter),
		AttrListPK: str(kindDeadLetter), AttrListSK: str(listSK(d.ReceivedAt, pk)),
		attrKey: str(d.Key), attrScheme: str(string(d.Scheme)), attrReason: str(clipReason(d.Reason)),
		attrBodyLen: num(int64(len(d.Body))), attrReceivedAt: nanos(d.ReceivedAt), attrAttempts: num(int64(d.Attempts)),
	}
	if d.EventType != "" {
		item[attrEventType] = str(d.EventType)
	}
	switch {
	case len(d.Body) == 0:
	case len(d.Body) <= chunkBytes:
		item[attrBody] = &types.AttributeValueMemberB{Value: d.Body}
	default:
		n := 0
		for ; n*chunkBytes < len(d.Body); n++ {
			part := d.Body[n*chunkBytes : min((n+1)*chunkBytes, len(d.Body))]
			if _, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: s.table, Item: map[string]types.AttributeValue{
				AttrPK: str(pk), AttrSK: str(chunkSK(n)), attrData: &types.AttributeValueMemberB{Value: part},
			}}); err != nil {
				return fmt.Errorf("dynamodb dead letter %q: %w", d.Key, err)
			}
		}
		item[attrBodyChunks] = num(int64(n))
	}
	if _, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: s.table, Item: item}); err != nil {
		return fmt.Errorf("dynamodb dead letter %q: %w", d.Key, err)
	}
	return nil
}

func chunkSK(i int) string { return fmt.Sprintf("%s%06d", kindChunk, i) }

// ListDeadLetters returns up to limit dead letters, oldest first (limit <=
// 0: all): the list index in order, then the letters themselves (strongly
// consistent). The index is eventually consistent: a letter put a moment
// ago may be missing from the list for that moment.
func (s *Store) ListDeadLetters(ctx context.Context, limit int) ([]core.DeadLetter, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	items, err := listItems(ctx, s.client, s.table, kindDeadLetter, true, limit)
	if err != nil {
		return nil, fmt.Errorf("dynamodb list dead letters: %w", err)
	}
	out := make([]core.DeadLetter, 0, len(items))
	for _, item := range items {
		d := core.DeadLetter{
			Key: getS(item, attrKey), Scheme: core.Scheme(getS(item, attrScheme)), EventType: getS(item, attrEventType),
			Reason: getS(item, attrReason), Body: getB(item, attrBody), ReceivedAt: getTime(item, attrReceivedAt),
			Attempts: int(getN(item, attrAttempts)),
		}
		if n := int(getN(item, attrBodyChunks)); n > 0 {
			if d.Body, err = s.readChunks(ctx, getS(item, AttrPK), d.Key, n, int(getN(item, attrBodyLen))); err != nil {
				return nil, err
			}
		}
		out = append(out, d)
	}
	return out, nil
}

func (s *Store) readChunks(ctx context.Context, pk, key string, n, size int) ([]byte, error) {
	body := make([]byte, 0, size)
	for i := range n {
		item, err := s.getItem(ctx, pk, chunkSK(i))
		if err != nil {
			return nil, fmt.Errorf("dynamodb dead letter %q chunk %d: %w", key, i, err)
		}
		if item == nil {
			return nil, fmt.Errorf("dynamodb dead letter %q: chunk %d missing", key, i)
		}
		body = append(body, getB(item, attrData)...)
	}
	if len(body) != size {
		return nil, fmt.Errorf("dynamodb dead letter %q: body is %d bytes, want %d", key, len(body), size)
	}
	return body, nil
}

// DeleteDeadLetter removes the dead letter for key (absent: no error). The
// main item goes first, so a half-finished delete leaves only chunks nobody
// reads, which the next Put or Delete overwrites or removes.
func (s *Store) DeleteDeadLetter(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	pk := itemPK(kindDeadLetter, key)
	if _, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: s.table, Key: keyOf(pk, kindDeadLetter)}); err != nil {
		return fmt.Errorf("dynamodb delete dead letter %q: %w", key, err)
	}
	p := dynamodb.NewQueryPaginator(s.client, &dynamodb.QueryInput{
		TableName:                 s.table,
		KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :chunk)"),
		ExpressionAttributeNames:  map[string]string{"#pk": AttrPK, "#sk": AttrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pk), ":chunk": str(kindChunk)},
		ProjectionExpression:      aws.String("#pk, #sk"),
		ConsistentRead:            aws.Bool(true),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("dynamodb delete dead letter %q: %w", key, err)
		}
		for _, it := range page.Items {
			if _, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: s.table, Key: keyOf(getS(it, AttrPK), getS(it, AttrSK))}); err != nil {
				return fmt.Errorf("dynamodb delete dead letter %q: %w", key, err)
			}
		}
	}
	return nil
}

// listItems reads the items of kind in the list index's order (ascending
// or not), up to limit (<= 0: all): the index's keys, then the items
// (BatchGetItem, strongly consistent). A key whose item is gone by then
// (deleted meanwhile) is skipped.
func listItems(ctx context.Context, client *dynamodb.Client, table *string, kind string, ascending bool, limit int) ([]map[string]types.AttributeValue, error) {
	in := &dynamodb.QueryInput{
		TableName:                 table,
		IndexName:                 aws.String(ListIndex),
		KeyConditionExpression:    aws.String("#lpk = :kind"),
		ExpressionAttributeNames:  map[string]string{"#lpk": AttrListPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":kind": str(kind)},
		ScanIndexForward:          aws.Bool(ascending),
	}
	if limit > 0 {
		in.Limit = aws.Int32(int32(min(limit, 1000)))
	}
	var keys []map[string]types.AttributeValue
	p := dynamodb.NewQueryPaginator(client, in)
	for p.HasMorePages() && (limit <= 0 || len(keys) < limit) {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, it := range page.Items {
			keys = append(keys, keyOf(getS(it, AttrPK), getS(it, AttrSK)))
		}
	}
	if limit > 0 && len(keys) > limit {
		keys = keys[:limit]
	}
	byPK := map[string]map[string]types.AttributeValue{}
	for start := 0; start < len(keys); start += batchGetMax {
		pending := map[string]types.KeysAndAttributes{*table: {Keys: keys[start:min(start+batchGetMax, len(keys))], ConsistentRead: aws.Bool(true)}}
		for wait := 50 * time.Millisecond; len(pending) > 0; wait = min(2*wait, time.Second) {
			out, err := client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: pending})
			if err != nil {
				return nil, err
			}
			for _, it := range out.Responses[*table] {
				byPK[getS(it, AttrPK)] = it
			}
			pending = out.UnprocessedKeys
			if len(pending) > 0 {
				// Throttled: back off before asking for the rest.
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(wait):
				}
			}
		}
	}
	items := make([]map[string]types.AttributeValue, 0, len(keys))
	for _, k := range keys {
		if it, ok := byPK[getS(k, AttrPK)]; ok {
			items = append(items, it)
		}
	}
	return items, nil
}

// clipReason bounds a reason (an error's text) to maxReasonBytes, dropping
// a rune the cut would split.
func clipReason(s string) string {
	if len(s) <= maxReasonBytes {
		return s
	}
	return strings.ToValidUTF8(s[:maxReasonBytes], "")
}
