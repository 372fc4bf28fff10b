package dynamodb

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/geminiwebhooks/receiver/core/reconcile"
)

var _ reconcile.RunLog = (*Store)(nil)

// PutLastRun replaces the kept summary of the reconcile's last run (one
// item, pk "reconcile", sk "last"): one write per run.
func (s *Store) PutLastRun(ctx context.Context, r reconcile.LastRun) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	item := map[string]types.AttributeValue{
		AttrPK: str(pkReconcile), AttrSK: str(skLastRun),
		"at": nanos(r.At), "tookMs": num(r.Took.Milliseconds()), "seen": num(int64(r.Seen)), "applied": num(int64(r.Applied)),
		"landed": num(int64(r.Landed)), "failed": num(int64(r.Failed)), "problems": num(int64(r.Problems)),
		"cutOff": &types.AttributeValueMemberBOOL{Value: r.CutOff},
	}
	if r.Error != "" {
		item["error"] = str(r.Error)
	}
	if _, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: s.table, Item: item}); err != nil {
		return fmt.Errorf("dynamodb last reconcile: %w", err)
	}
	return nil
}

// LastRun is the kept summary; nil when no reconcile finished yet.
func (s *Store) LastRun(ctx context.Context) (*reconcile.LastRun, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	item, err := s.getItem(ctx, pkReconcile, skLastRun)
	if err != nil {
		return nil, fmt.Errorf("dynamodb last reconcile: %w", err)
	}
	if item == nil {
		return nil, nil
	}
	cut, _ := item["cutOff"].(*types.AttributeValueMemberBOOL)
	return &reconcile.LastRun{
		At: getTime(item, "at"), Took: time.Duration(getN(item, "tookMs")) * time.Millisecond,
		Seen: int(getN(item, "seen")), Applied: int(getN(item, "applied")), Landed: int(getN(item, "landed")),
		Failed: int(getN(item, "failed")), Problems: int(getN(item, "problems")), CutOff: cut != nil && cut.Value,
		Error: getS(item, "error"),
	}, nil
}
