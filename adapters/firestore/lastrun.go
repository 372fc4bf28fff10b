package firestore

import (
	"context"
	"fmt"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminiwebhooks/receiver/core/reconcile"
)

// runsSuffix names the collection beside the records that keeps the
// reconcile's last run (one document, lastReconcileDoc): outside the
// records' collection, so their TTL policy and queries never meet it.
const (
	runsSuffix       = "_runs"
	lastReconcileDoc = "reconcile"
)

type lastRunDoc struct {
	At       time.Time `firestore:"at"`
	TookMS   int64     `firestore:"tookMs,omitempty"`
	Seen     int       `firestore:"seen"`
	Applied  int       `firestore:"applied"`
	Landed   int       `firestore:"landed,omitempty"`
	Failed   int       `firestore:"failed,omitempty"`
	Problems int       `firestore:"problems,omitempty"`
	CutOff   bool      `firestore:"cutOff,omitempty"`
	Error    string    `firestore:"error,omitempty"`
}

var _ reconcile.RunLog = (*Store)(nil)

// PutLastRun replaces the kept summary of the reconcile's last run: one
// write per run, whichever cloud ran it.
func (s *Store) PutLastRun(ctx context.Context, r reconcile.LastRun) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	d := lastRunDoc{At: r.At, TookMS: r.Took.Milliseconds(), Seen: r.Seen, Applied: r.Applied, Landed: r.Landed,
		Failed: r.Failed, Problems: r.Problems, CutOff: r.CutOff, Error: r.Error}
	if _, err := s.runs().Set(ctx, d); err != nil {
		return fmt.Errorf("firestore last reconcile: %w", err)
	}
	return nil
}

// LastRun is the kept summary; nil when no reconcile finished yet.
func (s *Store) LastRun(ctx context.Context) (*reconcile.LastRun, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	snap, err := s.runs().Get(ctx)
	if status.Code(err) == codes.NotFound {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("firestore last reconcile: %w", err)
	}
	var d lastRunDoc
	if err := snap.DataTo(&d); err != nil {
		return nil, fmt.Errorf("firestore last reconcile: %w", err)
	}
	return &reconcile.LastRun{At: d.At, Took: time.Duration(d.TookMS) * time.Millisecond, Seen: d.Seen, Applied: d.Applied,
		Landed: d.Landed, Failed: d.Failed, Problems: d.Problems, CutOff: d.CutOff, Error: d.Error}, nil
}

func (s *Store) runs() *firestore.DocumentRef {
	return s.client.Collection(s.records.ID + runsSuffix).Doc(lastReconcileDoc)
}
