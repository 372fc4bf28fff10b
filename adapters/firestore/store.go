package firestore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminiwebhooks/receiver/core"
)

// Defaults of Config.
const (
	defaultCallTimeout = 5 * time.Second
	defaultHints       = 10_000
	defaultHintsFor    = 15 * time.Minute
	// defaultReadFirstAfter: Gemini retries a delivery it got no 2xx for
	// within a few seconds, with backoff; its first attempt comes right
	// after the event.
	defaultReadFirstAfter = 10 * time.Second
	// DefaultCollection holds the records unless Config.Collection
	// (FIRESTORE_COLLECTION) says otherwise.
	DefaultCollection = "gemini_webhook_deliveries"
	// deadLetterSuffix names the dead-letter collection beside the records.
	deadLetterSuffix = "_dead_letters"
)

// maxAttempts bounds the claim and owner-check loops; each retry means
// another writer changed the document between our read and our write.
const maxAttempts = 8

// Config says where the records live.
type Config struct {
	ProjectID  string // empty: detected from the credentials
	DatabaseID string // empty: "(default)"
	Collection string // empty: DefaultCollection

	// Client, when set, is used instead of building one; Close leaves it open.
	Client *firestore.Client
	// ClientOptions are passed to the client this package builds.
	ClientOptions []option.ClientOption

	// CallTimeout bounds every store call (the caller's deadline still applies). 0: 5 s.
	CallTimeout time.Duration
	// Hints is how many recent delivery ids this process remembers (as
	// completed, or as in progress elsewhere) to save round trips on
	// duplicates. 0: 10 000; negative: off.
	Hints int
	// HintsFor bounds how long one is remembered. 0: 15 min.
	HintsFor time.Duration
	// ReadFirstAfter: a claim for an event older than this (core.Claim's
	// EventTime) reads the record before it tries to create it, so that a
	// retry of a delivery another instance completed costs one round trip
	// instead of two, and a late first delivery one more. 0: 10 s;
	// negative: always create first.
	ReadFirstAfter time.Duration
}

// Store implements core.Store and core.DeadLetters on Firestore.
type Store struct {
	client      *firestore.Client
	ownsClient  bool
	records     *firestore.CollectionRef
	deadLetters *firestore.CollectionRef
	timeout     time.Duration
	hints       *hints
	held        heldClaims
	// readFirstAfter is Config.ReadFirstAfter (negative: never).
	readFirstAfter time.Duration
}

var (
	_ core.Store       = (*Store)(nil)
	_ core.DeadLetters = (*Store)(nil)
)

// New opens the store. The client connects lazily; only detecting an unset
// project id (from the credentials or the metadata server) may wait on the network.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Collection == "" {
		cfg.Collection = DefaultCollection
	}
	if strings.Contains(cfg.Collection, "/") {
		return nil, fmt.Errorf("firestore store: collection %q must be a top-level collection id (no '/')", cfg.Collection)
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = defaultCallTimeout
	}
	if cfg.Hints == 0 {
		cfg.Hints = defaultHints
	}
	if cfg.HintsFor <= 0 {
		cfg.HintsFor = defaultHintsFor
	}
	if cfg.ReadFirstAfter == 0 {
		cfg.ReadFirstAfter = defaultReadFirstAfter
	}
	s := &Store{client: cfg.Client, timeout: cfg.CallTimeout, hints: newHints(cfg.Hints, cfg.HintsFor), readFirstAfter: cfg.ReadFirstAfter}
	if s.client == nil {
		project := cfg.ProjectID
		if project == "" {
			project = firestore.DetectProjectID
		}
		db := cfg.DatabaseID
		if db == "" {
			db = firestore.DefaultDatabaseID
		}
		c, err := firestore.NewClientWithDatabase(ctx, project, db, cfg.ClientOptions...)
		if err != nil {
			return nil, fmt.Errorf("firestore store: %w", err)
		}
		s.client, s.ownsClient = c, true
	}
	s.records = s.client.Collection(cfg.Collection)
	s.deadLetters = s.client.Collection(cfg.Collection + deadLetterSuffix)
	return s, nil
}

// Close closes the client if New built it.
func (s *Store) Close() error {
	if s.ownsClient {
		return s.client.Close()
	}
	return nil
}

// Claim: a Create wins a new id in one write. If the document exists, one
// read decides with core.Decide; a takeover (lease over, or record expired)
// is a write preconditioned on the update time of that read, so the read and
// the write act as one atomic step and a concurrent claimant makes it fail
// and decide again. An id this process recently found in progress, or an
// event older than Config.ReadFirstAfter, is read first, as that delivery is
// most likely a duplicate: one read then decides it.
func (s *Store) Claim(ctx context.Context, c core.Claim) (core.ClaimResult, error) {
	h, hinted := s.hints.get(c.Key, c.Now)
	if hinted && h.completed {
		if h.hash == c.BodyHash {
			return core.Duplicate, nil
		}
		return core.Conflict, nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	ref := s.records.Doc(docID(c.Key))
	readFirst := hinted || s.late(c)
	for range maxAttempts {
		if !readFirst {
			_, fresh := core.Decide(nil, c)
			wr, err := ref.Create(ctx, toDoc(c.Key, fresh))
			if err == nil {
				s.held.put(c.Key, c.Owner, wr.UpdateTime, c.LeaseUntil, c.Now)
				return core.Claimed, nil
			}
			if status.Code(err) != codes.AlreadyExists {
				return 0, fmt.Errorf("firestore claim %q: %w", c.Key, err)
			}
		}
		readFirst = false

		snap, err := ref.Get(ctx)
		if status.Code(err) == codes.NotFound {
			continue // absent (released or expired and deleted): Create
		}
		if err != nil {
			return 0, fmt.Errorf("firestore claim %q: %w", c.Key, err)
		}
		existing, err := decodeRecord(snap)
		if err != nil {
			return 0, fmt.Errorf("firestore claim %q: %w", c.Key, err)
		}
		if existing.State == core.StateInProgress && existing.Owner == c.Owner {
			// Our own earlier write landed although its answer was lost and
			// the client retried it: the claim is ours.
			s.held.put(c.Key, c.Owner, snap.UpdateTime, c.LeaseUntil, c.Now)
			return core.Claimed, nil
		}
		verdict, rec := core.Decide(existing, c)
		if rec == nil {
			if existing.State == core.StateCompleted {
				s.hints.completed(c.Key, existing.BodyHash, c.Now, existing.ExpireAt)
			} else {
				s.hints.busy(c.Key, c.Now)
			}
			return verdict, nil
		}
		wr, err := ref.Update(ctx, toDoc(c.Key, rec).updates(), firestore.LastUpdateTime(snap.UpdateTime))
		if err == nil {
			s.held.put(c.Key, c.Owner, wr.UpdateTime, c.LeaseUntil, c.Now)
			return core.Claimed, nil
		}
		if !changedUnderUs(err) {
			return 0, fmt.Errorf("firestore claim %q: %w", c.Key, err)
		}
	}
	return 0, fmt.Errorf("firestore claim %q: document kept changing after %d attempts", c.Key, maxAttempts)
}

// late reports whether c's event is old enough that its delivery is most
// likely a retry.
func (s *Store) late(c core.Claim) bool {
	return s.readFirstAfter > 0 && !c.EventTime.IsZero() && c.Now.Sub(c.EventTime) > s.readFirstAfter
}

// Complete marks the claim done, only if c's owner still holds it.
func (s *Store) Complete(ctx context.Context, c core.Claim, keepUntil time.Time) error {
	finished := c.Now
	if finished.IsZero() {
		finished = time.Now()
	}
	upd := []firestore.Update{
		{Path: fieldState, Value: string(core.StateCompleted)},
		{Path: fieldFinishedAt, Value: finished},
		{Path: fieldExpireAt, Value: keepUntil},
	}
	err := s.owned(ctx, c, "complete", func(ctx context.Context, ref *firestore.DocumentRef, pre firestore.Precondition) error {
		_, err := ref.Update(ctx, upd, pre)
		return err
	})
	if err == nil {
		s.hints.completed(c.Key, c.BodyHash, finished, keepUntil)
	}
	return err
}

// Release deletes the claim, only if c's owner still holds it, so Gemini's
// next attempt is processed.
func (s *Store) Release(ctx context.Context, c core.Claim) error {
	return s.owned(ctx, c, "release", func(ctx context.Context, ref *firestore.DocumentRef, pre firestore.Precondition) error {
		_, err := ref.Delete(ctx, pre)
		return err
	})
}

// owned runs write with a precondition that holds only while c's owner holds
// the in-progress record. The fast path uses the update time of our own claim
// write (one round trip); otherwise, or if that fails, it reads the record,
// checks the owner and writes preconditioned on that read.
func (s *Store) owned(ctx context.Context, c core.Claim, op string, write func(context.Context, *firestore.DocumentRef, firestore.Precondition) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	ref := s.records.Doc(docID(c.Key))
	if t, ok := s.held.take(c.Key, c.Owner); ok {
		err := write(ctx, ref, firestore.LastUpdateTime(t))
		if err == nil {
			return nil
		}
		if !changedUnderUs(err) {
			return fmt.Errorf("firestore %s %q: %w", op, c.Key, err)
		}
	}
	for range maxAttempts {
		snap, err := ref.Get(ctx)
		if status.Code(err) == codes.NotFound {
			return fmt.Errorf("firestore %s %q: %w", op, c.Key, core.ErrNotOwner)
		}
		if err != nil {
			return fmt.Errorf("firestore %s %q: %w", op, c.Key, err)
		}
		rec, err := decodeRecord(snap)
		if err != nil {
			return fmt.Errorf("firestore %s %q: %w", op, c.Key, err)
		}
		if rec.State != core.StateInProgress || rec.Owner != c.Owner {
			return fmt.Errorf("firestore %s %q: %w", op, c.Key, core.ErrNotOwner)
		}
		err = write(ctx, ref, firestore.LastUpdateTime(snap.UpdateTime))
		if err == nil {
			return nil
		}
		if !changedUnderUs(err) {
			return fmt.Errorf("firestore %s %q: %w", op, c.Key, err)
		}
	}
	return fmt.Errorf("firestore %s %q: document kept changing after %d attempts", op, c.Key, maxAttempts)
}

// Get returns the record for key (nil when absent), for tests and the admin view.
func (s *Store) Get(ctx context.Context, key string) (*core.Record, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	snap, err := s.records.Doc(docID(key)).Get(ctx)
	if status.Code(err) == codes.NotFound {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("firestore get %q: %w", key, err)
	}
	return decodeRecord(snap)
}

// changedUnderUs reports a failed update_time precondition or a document
// that vanished: another writer got there first.
func changedUnderUs(err error) bool {
	switch status.Code(err) {
	case codes.FailedPrecondition, codes.NotFound:
		return true
	}
	return false
}
