package dynamodb

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/geminiwebhooks/receiver/core/jobs"
)

// DefaultLedgerTimeout bounds each ledger call; longer than a store call's
// because an update may go round several times under contention.
const DefaultLedgerTimeout = 10 * time.Second

// ledgerAttempts bounds an update's reruns under contention (several
// deliveries of one job at once on several instances).
const ledgerAttempts = 20

// jobCacheSize bounds the jobs a ledger remembers (a few KB each).
const jobCacheSize = 1024

// Attributes of a job item. The record is JSON (as the file store keeps
// it), gzipped when large; kind and state are repeated for the console.
const (
	attrRev    = "rev" // incremented by every write: the optimistic lock
	attrJob    = "job"
	attrJobGz  = "jobGz"
	attrKind   = "kind"
	gzipAbove  = 256 << 10
	maxJobSize = 390 << 10 // what fits an item beside the other attributes
)

// Ledger is jobs.Ledger on the store's table: one item per Gemini job,
// updated by applying the ledger's pure rules to what was read and writing
// the result only if its revision is still the one read (a conditional
// PutItem), so concurrent workers on any instance agree (one landing claim
// wins).
type Ledger struct {
	client  *dynamodb.Client
	table   *string
	timeout time.Duration
	cache   *lru[cachedJob]
}

type cachedJob struct {
	job *jobs.Job
	rev int64
}

var _ jobs.Ledger = (*Ledger)(nil)

// NewLedger opens the ledger in cfg's table (CallTimeout 0: 10 s); it
// makes no network call.
func NewLedger(ctx context.Context, cfg Config) (*Ledger, error) {
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultLedgerTimeout
	}
	s, err := New(ctx, Config{Table: cfg.Table, Client: cfg.Client, Hints: -1})
	if err != nil {
		return nil, fmt.Errorf("dynamodb ledger: %w", err)
	}
	return &Ledger{client: s.client, table: s.table, timeout: cfg.CallTimeout, cache: newLRU[cachedJob](jobCacheSize)}, nil
}

// Ledger is a ledger sharing the store's client and table.
func (s *Store) Ledger() *Ledger {
	return &Ledger{client: s.client, table: s.table, timeout: DefaultLedgerTimeout, cache: newLRU[cachedJob](jobCacheSize)}
}

// UpdateJob applies fn to the job's record and writes the result with a
// condition on the revision it was computed from (absent: the item must
// not exist). A failed condition returns the current item
// (ReturnValuesOnConditionCheckFailure), so the loser applies fn again
// without a read. A job this process wrote or read recently starts from
// what it remembers: one write when nobody else changed it. A job it has
// never seen is first assumed absent: one write for a job's first event,
// two when another instance wrote it.
func (l *Ledger) UpdateJob(ctx context.Context, id string, fn func(*jobs.Job) (*jobs.Job, error)) (*jobs.Job, error) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	pk := itemPK(kindJob, id)
	c, known := l.cache.get(id)
	cur, rev := c.job.Clone(), c.rev
	for range ledgerAttempts {
		next, err := fn(cur.Clone())
		if err != nil {
			return nil, err
		}
		if next == nil && known {
			return cur.Clone(), nil
		}
		var item map[string]types.AttributeValue
		if next == nil {
			// Nothing to write to an unknown job: read what is there.
			if item, err = getItem(ctx, l.client, l.table, pk, kindJob); err != nil {
				return nil, fmt.Errorf("dynamodb ledger %q: %w", id, err)
			}
		} else {
			next = next.Clone()
			next.ID = id
			put, err := jobItem(pk, next, rev+1)
			if err != nil {
				return nil, fmt.Errorf("dynamodb ledger %q: %w", id, err)
			}
			in := &dynamodb.PutItemInput{TableName: l.table, Item: put,
				ExpressionAttributeNames:            map[string]string{"#pk": AttrPK},
				ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
			}
			if rev == 0 {
				in.ConditionExpression = aws.String("attribute_not_exists(#pk)")
			} else {
				in.ConditionExpression = aws.String("#rev = :rev")
				in.ExpressionAttributeNames = map[string]string{"#rev": attrRev}
				in.ExpressionAttributeValues = map[string]types.AttributeValue{":rev": num(rev)}
			}
			_, err = l.client.PutItem(ctx, in)
			if err == nil {
				l.cache.put(id, cachedJob{next.Clone(), rev + 1})
				return next, nil
			}
			var failed *types.ConditionalCheckFailedException
			if !errors.As(err, &failed) {
				return nil, fmt.Errorf("dynamodb ledger %q: %w", id, err)
			}
			// Someone else wrote it (or removed it): apply fn to what is there.
			item = failed.Item
			if item == nil && rev == 0 {
				// A DynamoDB that does not return the item: read it.
				if item, err = getItem(ctx, l.client, l.table, pk, kindJob); err != nil {
					return nil, fmt.Errorf("dynamodb ledger %q: %w", id, err)
				}
			}
		}
		known = true
		cur, rev = nil, 0
		if item != nil {
			if cur, err = decodeJob(item); err != nil {
				return nil, fmt.Errorf("dynamodb ledger %q: %w", id, err)
			}
			rev = getN(item, attrRev)
			l.cache.put(id, cachedJob{cur.Clone(), rev})
		} else {
			l.cache.remove(id)
		}
	}
	return nil, fmt.Errorf("dynamodb ledger %q: still contended after %d attempts", id, ledgerAttempts)
}

// GetJob reads the job's record (strongly consistent); nil when absent.
func (l *Ledger) GetJob(ctx context.Context, id string) (*jobs.Job, error) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	item, err := getItem(ctx, l.client, l.table, itemPK(kindJob, id), kindJob)
	if err != nil {
		return nil, fmt.Errorf("dynamodb ledger get %q: %w", id, err)
	}
	if item == nil {
		return nil, nil
	}
	return decodeJob(item)
}

// ListJobs returns up to limit jobs, newest first (limit <= 0: all),
// through the list index (see ListDeadLetters on its consistency).
func (l *Ledger) ListJobs(ctx context.Context, limit int) ([]jobs.Job, error) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	items, err := listItems(ctx, l.client, l.table, kindJob, false, limit)
	if err != nil {
		return nil, fmt.Errorf("dynamodb ledger list: %w", err)
	}
	out := make([]jobs.Job, 0, len(items))
	for _, it := range items {
		j, err := decodeJob(it)
		if err != nil {
			return nil, err
		}
		out = append(out, *j)
	}
	jobs.SortJobs(out) // ties on firstSeen: by id, as every ledger
	return out, nil
}

// jobItem is j as the item at pk with revision rev.
func jobItem(pk string, j *jobs.Job, rev int64) (map[string]types.AttributeValue, error) {
	b, err := json.Marshal(j)
	if err != nil {
		return nil, err
	}
	item := map[string]types.AttributeValue{
		AttrPK: str(pk), AttrSK: str(kindJob),
		AttrListPK: str(kindJob), AttrListSK: str(listSK(j.FirstSeen, pk)),
		attrRev: num(rev), attrKind: str(j.Kind), attrState: str(string(j.State)),
	}
	if len(b) <= gzipAbove {
		item[attrJob] = str(string(b))
		return item, nil
	}
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write(b) // a bytes.Buffer does not fail
	w.Close()
	if z.Len() > maxJobSize {
		return nil, fmt.Errorf("job record is %d bytes gzipped, over DynamoDB's item limit", z.Len())
	}
	item[attrJobGz] = &types.AttributeValueMemberB{Value: z.Bytes()}
	return item, nil
}

func decodeJob(item map[string]types.AttributeValue) (*jobs.Job, error) {
	b := []byte(getS(item, attrJob))
	if gz := getB(item, attrJobGz); gz != nil {
		r, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			return nil, fmt.Errorf("job %s: %w", getS(item, AttrPK), err)
		}
		if b, err = io.ReadAll(r); err != nil {
			return nil, fmt.Errorf("job %s: %w", getS(item, AttrPK), err)
		}
	}
	var j jobs.Job
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("job %s: %w", getS(item, AttrPK), err)
	}
	return &j, nil
}
