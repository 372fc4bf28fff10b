package firestore

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminiwebhooks/receiver/core/jobs"
)

// defaultJobsCollection holds the job ledger unless configured otherwise.
const defaultJobsCollection = "jobs"

// defaultLedgerTimeout bounds each ledger call; it is longer than a
// store call's because a transaction may wait for others on the same job.
const defaultLedgerTimeout = 10 * time.Second

// ledgerTxAttempts bounds an update's reruns under contention (several
// deliveries of one job at once on several instances).
const ledgerTxAttempts = 20

// jobCacheSize bounds the jobs a ledger remembers (a few KB each).
const jobCacheSize = 1024

// LedgerConfig says where the job ledger lives.
type LedgerConfig struct {
	// Client, when set, is shared (Close leaves it open); otherwise one is
	// built for ProjectID and DatabaseID.
	Client                *firestore.Client
	ProjectID, DatabaseID string
	Collection            string        // empty: "jobs"
	CallTimeout           time.Duration // per call; 0: 10 s
}

// Ledger is jobs.Ledger on Firestore: one document per Gemini job, updated
// by applying the ledger's pure rules to what was read and writing the
// result only if nobody changed it since (UpdateJob), so concurrent workers
// on any instance agree (one landing claim wins).
type Ledger struct {
	client     *firestore.Client
	ownsClient bool
	jobs       *firestore.CollectionRef
	timeout    time.Duration
	cache      *jobCache
}

var _ jobs.Ledger = (*Ledger)(nil)

// FirestoreClient is the store's client, so the ledger can share it.
func (s *Store) FirestoreClient() *firestore.Client { return s.client }

// NewLedger opens the ledger; building a client makes no network call.
func NewLedger(ctx context.Context, cfg LedgerConfig) (*Ledger, error) {
	if cfg.Collection == "" {
		cfg.Collection = defaultJobsCollection
	}
	if strings.Contains(cfg.Collection, "/") {
		return nil, fmt.Errorf("firestore ledger: collection %q must be a top-level collection id (no '/')", cfg.Collection)
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = defaultLedgerTimeout
	}
	l := &Ledger{client: cfg.Client, timeout: cfg.CallTimeout, cache: newJobCache(jobCacheSize)}
	if l.client == nil {
		project, db := cfg.ProjectID, cfg.DatabaseID
		if project == "" {
			project = firestore.DetectProjectID
		}
		if db == "" {
			db = firestore.DefaultDatabaseID
		}
		c, err := firestore.NewClientWithDatabase(ctx, project, db)
		if err != nil {
			return nil, fmt.Errorf("firestore ledger: %w", err)
		}
		l.client, l.ownsClient = c, true
	}
	l.jobs = l.client.Collection(cfg.Collection)
	return l, nil
}

// Close closes the client if NewLedger built it.
func (l *Ledger) Close() error {
	if l.ownsClient {
		return l.client.Close()
	}
	return nil
}

// UpdateJob applies fn to the job's record and writes the result with a
// precondition on the record's update time as last read (a create when it
// was absent), so that concurrent writers on any instance agree: the loser
// reads again and reapplies fn, as a transaction would, in fewer round
// trips. A job this process wrote or read recently starts from what it
// remembers (jobCache): one write, no read, when nobody else changed it. A
// job it has never seen is first assumed absent: one create, no read, for a
// job's first event.
func (l *Ledger) UpdateJob(ctx context.Context, id string, fn func(*jobs.Job) (*jobs.Job, error)) (*jobs.Job, error) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	ref := l.jobs.Doc(docID(id))
	cur, at, known := l.cache.get(id)
	for range ledgerTxAttempts {
		next, err := fn(cur.Clone())
		if err != nil {
			return nil, err
		}
		if next == nil && known {
			return cur.Clone(), nil
		}
		if next != nil {
			next = next.Clone()
			next.ID = id
			var wr *firestore.WriteResult
			if at.IsZero() {
				wr, err = ref.Create(ctx, toJobDoc(next))
			} else {
				wr, err = ref.Update(ctx, toJobDoc(next).updates(), firestore.LastUpdateTime(at))
			}
			if err == nil {
				l.cache.put(id, next, wr.UpdateTime)
				return next.Clone(), nil
			}
			switch status.Code(err) {
			case codes.AlreadyExists, codes.FailedPrecondition, codes.NotFound:
				// Someone else wrote it (or removed it): read and apply fn again.
			default:
				return nil, fmt.Errorf("firestore ledger %q: %w", id, err)
			}
		}
		if cur, at, err = l.read(ctx, ref); err != nil {
			return nil, fmt.Errorf("firestore ledger %q: %w", id, err)
		}
		known = true
		if cur != nil {
			l.cache.put(id, cur, at)
		}
	}
	return nil, fmt.Errorf("firestore ledger %q: still contended after %d attempts", id, ledgerTxAttempts)
}

// read returns the job's record and its update time (nil and zero when absent).
func (l *Ledger) read(ctx context.Context, ref *firestore.DocumentRef) (*jobs.Job, time.Time, error) {
	snap, err := ref.Get(ctx)
	if status.Code(err) == codes.NotFound {
		return nil, time.Time{}, nil
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	j, err := decodeJob(snap)
	return j, snap.UpdateTime, err
}

func (l *Ledger) GetJob(ctx context.Context, id string) (*jobs.Job, error) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	snap, err := l.jobs.Doc(docID(id)).Get(ctx)
	if status.Code(err) == codes.NotFound {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("firestore ledger get %q: %w", id, err)
	}
	return decodeJob(snap)
}

// ListJobs returns up to limit jobs, newest first (limit <= 0: all).
func (l *Ledger) ListJobs(ctx context.Context, limit int) ([]jobs.Job, error) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	q := l.jobs.OrderBy("firstSeen", firestore.Desc)
	if limit > 0 {
		q = q.Limit(limit)
	}
	it := q.Documents(ctx)
	defer it.Stop()
	var out []jobs.Job
	for {
		snap, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("firestore ledger list: %w", err)
		}
		j, err := decodeJob(snap)
		if err != nil {
			return nil, err
		}
		out = append(out, *j)
	}
	jobs.SortJobs(out) // ties on firstSeen: by id, as every ledger
	return out, nil
}

// jobDoc is one job document; field names are the console's view of the ledger.
type jobDoc struct {
	ID         string    `firestore:"id"`
	Kind       string    `firestore:"kind"`
	State      string    `firestore:"state"`
	StateAt    time.Time `firestore:"stateAt"`
	APIState   string    `firestore:"apiState,omitempty"`
	LastEvent  string    `firestore:"lastEvent,omitempty"`
	Events     []string  `firestore:"events,omitempty"`
	FirstSeen  time.Time `firestore:"firstSeen"`
	UpdatedAt  time.Time `firestore:"updatedAt"`
	FinishedAt time.Time `firestore:"finishedAt"`

	ErrorCode    string         `firestore:"errorCode,omitempty"`
	ErrorMessage string         `firestore:"errorMessage,omitempty"`
	UserMetadata map[string]any `firestore:"userMetadata,omitempty"`
	Deliveries   []string       `firestore:"deliveries,omitempty"`

	Source          string               `firestore:"source,omitempty"`
	Landing         string               `firestore:"landing,omitempty"`
	LandingOwner    string               `firestore:"landingOwner,omitempty"`
	LandingLease    time.Time            `firestore:"landingLease"`
	LandingAttempts int                  `firestore:"landingAttempts,omitempty"`
	LandingError    string               `firestore:"landingError,omitempty"`
	Output          *manifestDoc         `firestore:"output,omitempty"`
	ManifestURI     string               `firestore:"manifestUri,omitempty"`
	Notices         map[string]noticeDoc `firestore:"notices,omitempty"`

	Conversation string                `firestore:"conversation,omitempty"`
	Round        int                   `firestore:"round,omitempty"`
	ToolRuns     map[string]toolRunDoc `firestore:"toolRuns,omitempty"`
	Continuation string                `firestore:"continuation,omitempty"`
}

type toolRunDoc struct {
	Name       string    `firestore:"name"`
	Result     string    `firestore:"result"`
	IsError    bool      `firestore:"isError,omitempty"`
	DurationNS int64     `firestore:"durationNs,omitempty"`
	FinishedAt time.Time `firestore:"finishedAt"`
}

type manifestDoc struct {
	JobID          string    `firestore:"jobId"`
	Source         string    `firestore:"source"`
	URI            string    `firestore:"uri"`
	ContentType    string    `firestore:"contentType,omitempty"`
	Bytes          int64     `firestore:"bytes"`
	SHA256         string    `firestore:"sha256"`
	Lines          int64     `firestore:"lines"`
	SucceededLines int64     `firestore:"succeededLines"`
	FailedLines    int64     `firestore:"failedLines"`
	LandedAt       time.Time `firestore:"landedAt"`
}

type noticeDoc struct {
	DeliveryID string    `firestore:"deliveryId"`
	SentAt     time.Time `firestore:"sentAt"`
}

func toJobDoc(j *jobs.Job) jobDoc {
	d := jobDoc{
		ID: j.ID, Kind: j.Kind, State: string(j.State), StateAt: j.StateAt, APIState: j.APIState,
		LastEvent: j.LastEvent, Events: j.Events, FirstSeen: j.FirstSeen, UpdatedAt: j.UpdatedAt, FinishedAt: j.FinishedAt,
		ErrorCode: j.ErrorCode, ErrorMessage: j.ErrorMessage, UserMetadata: j.UserMetadata, Deliveries: j.Deliveries,
		Source: j.Source, Landing: string(j.Landing), LandingOwner: j.LandingOwner, LandingLease: j.LandingLease,
		LandingAttempts: j.LandingAttempts, LandingError: j.LandingError, ManifestURI: j.ManifestURI,
		Conversation: j.Conversation, Round: j.Round, Continuation: j.Continuation,
	}
	if len(j.ToolRuns) > 0 {
		d.ToolRuns = make(map[string]toolRunDoc, len(j.ToolRuns))
		for k, r := range j.ToolRuns {
			d.ToolRuns[k] = toolRunDoc{Name: r.Name, Result: r.Result, IsError: r.IsError, DurationNS: int64(r.Duration), FinishedAt: r.FinishedAt}
		}
	}
	if m := j.Output; m != nil {
		d.Output = &manifestDoc{
			JobID: m.JobID, Source: m.Source, URI: m.URI, ContentType: m.ContentType, Bytes: m.Bytes, SHA256: m.SHA256,
			Lines: m.Lines, SucceededLines: m.SucceededLines, FailedLines: m.FailedLines, LandedAt: m.LandedAt,
		}
	}
	if len(j.Notices) > 0 {
		d.Notices = make(map[string]noticeDoc, len(j.Notices))
		for k, n := range j.Notices {
			d.Notices[k] = noticeDoc{DeliveryID: n.DeliveryID, SentAt: n.SentAt}
		}
	}
	return d
}

// updates is d as a whole-document replacement for Update, which takes a
// precondition (Set does not): every field, an empty omitempty one deleted.
func (d jobDoc) updates() []firestore.Update {
	v := reflect.ValueOf(d)
	t := v.Type()
	u := make([]firestore.Update, 0, t.NumField())
	for i := range t.NumField() {
		name, opts, _ := strings.Cut(t.Field(i).Tag.Get("firestore"), ",")
		if f := v.Field(i); opts == "omitempty" && f.IsZero() {
			u = append(u, firestore.Update{Path: name, Value: firestore.Delete})
		} else {
			u = append(u, firestore.Update{Path: name, Value: f.Interface()})
		}
	}
	return u
}

func decodeJob(snap *firestore.DocumentSnapshot) (*jobs.Job, error) {
	var d jobDoc
	if err := snap.DataTo(&d); err != nil {
		return nil, fmt.Errorf("job %s: %w", snap.Ref.ID, err)
	}
	j := &jobs.Job{
		ID: d.ID, Kind: d.Kind, State: jobs.JobState(d.State), StateAt: zeroUTC(d.StateAt), APIState: d.APIState,
		LastEvent: d.LastEvent, Events: d.Events, FirstSeen: zeroUTC(d.FirstSeen), UpdatedAt: zeroUTC(d.UpdatedAt),
		FinishedAt: zeroUTC(d.FinishedAt), ErrorCode: d.ErrorCode, ErrorMessage: d.ErrorMessage,
		UserMetadata: d.UserMetadata, Deliveries: d.Deliveries, Source: d.Source, Landing: jobs.LandingState(d.Landing),
		LandingOwner: d.LandingOwner, LandingLease: zeroUTC(d.LandingLease), LandingAttempts: d.LandingAttempts,
		LandingError: d.LandingError, ManifestURI: d.ManifestURI,
		Conversation: d.Conversation, Round: d.Round, Continuation: d.Continuation,
	}
	if len(d.ToolRuns) > 0 {
		j.ToolRuns = make(map[string]jobs.ToolRun, len(d.ToolRuns))
		for k, r := range d.ToolRuns {
			j.ToolRuns[k] = jobs.ToolRun{Name: r.Name, Result: r.Result, IsError: r.IsError, Duration: time.Duration(r.DurationNS), FinishedAt: zeroUTC(r.FinishedAt)}
		}
	}
	if m := d.Output; m != nil {
		j.Output = &jobs.Manifest{
			JobID: m.JobID, Source: m.Source, URI: m.URI, ContentType: m.ContentType, Bytes: m.Bytes, SHA256: m.SHA256,
			Lines: m.Lines, SucceededLines: m.SucceededLines, FailedLines: m.FailedLines, LandedAt: zeroUTC(m.LandedAt),
		}
	}
	if len(d.Notices) > 0 {
		j.Notices = make(map[string]jobs.Notice, len(d.Notices))
		for k, n := range d.Notices {
			j.Notices[k] = jobs.Notice{DeliveryID: n.DeliveryID, SentAt: zeroUTC(n.SentAt)}
		}
	}
	return j, nil
}

// zeroUTC maps the stored zero time (year 1) back to Go's zero time.
func zeroUTC(t time.Time) time.Time {
	if t.IsZero() || t.Year() <= 1 {
		return time.Time{}
	}
	return t.UTC()
}
