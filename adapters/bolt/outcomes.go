package bolt

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/geminiwebhooks/receiver/core"
)

// bucketOutcomes holds the local server's delivery counts: one key per UTC
// hour ("2006-01-02T15Z", so keys sort by time), its value the JSON object
// outcome → count.
var bucketOutcomes = []byte("delivery_outcomes")

// Defaults of the outcome counts.
const (
	// flushEvery is how often counted outcomes are written to the file:
	// a crash loses at most this much of the counts (statistics, not
	// events: every delivery itself is in the idempotency records).
	flushEvery = 5 * time.Second
	// keepOutcomes is how long hourly counts stay in the file.
	keepOutcomes = 7 * 24 * time.Hour
)

const hourKey = "2006-01-02T15Z"

// Outcomes counts the receiver's deliveries by outcome and hour in memory
// (core.DeliveryObserver: a map increment under a mutex, no I/O on the
// delivery's path) and adds them to the file every 5 s (flushEvery) in one small
// transaction, so the counts cost one fsync per flush, none per delivery.
type Outcomes struct {
	db *bbolt.DB

	mu      sync.Mutex
	pending map[string]map[core.Outcome]int64 // hour key → outcome → count

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

var _ core.DeliveryObserver = (*Outcomes)(nil)

// NewOutcomes counts into s's file and flushes every `every` (0: 5 s)
// until Close, which flushes what is left.
func NewOutcomes(s *Store, every time.Duration) *Outcomes {
	if every <= 0 {
		every = flushEvery
	}
	o := &Outcomes{db: s.db, pending: map[string]map[core.Outcome]int64{}, stop: make(chan struct{}), done: make(chan struct{})}
	go o.loop(every)
	return o
}

// ObserveDelivery counts one delivery answered at `at`.
func (o *Outcomes) ObserveDelivery(out core.Outcome, at time.Time) {
	k := at.UTC().Format(hourKey)
	o.mu.Lock()
	h := o.pending[k]
	if h == nil {
		h = map[core.Outcome]int64{}
		o.pending[k] = h
	}
	h[out]++
	o.mu.Unlock()
}

func (o *Outcomes) loop(every time.Duration) {
	defer close(o.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_ = o.Flush() // what failed stays pending for the next flush
		case <-o.stop:
			return
		}
	}
}

// Flush adds the pending counts to the file in one transaction and drops
// hours older than keepOutcomes. Nothing pending: no transaction. On
// failure the counts stay pending.
func (o *Outcomes) Flush() error {
	o.mu.Lock()
	p := o.pending
	o.pending = map[string]map[core.Outcome]int64{}
	o.mu.Unlock()
	if len(p) == 0 {
		return nil
	}
	// Hours are pruned against the newest one counted, not a clock: the
	// counts' own times are all that matter.
	var newest time.Time
	for k := range p {
		if t, err := time.Parse(hourKey, k); err == nil && t.After(newest) {
			newest = t
		}
	}
	oldest := []byte(newest.Add(-keepOutcomes).Format(hourKey))
	err := o.db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketOutcomes)
		if err != nil {
			return err
		}
		for k, counts := range p {
			sum, err := decodeCounts(b.Get([]byte(k)))
			if err != nil {
				return fmt.Errorf("hour %s: %w", k, err)
			}
			for out, n := range counts {
				sum[out] += n
			}
			v, err := json.Marshal(sum)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(k), v); err != nil {
				return err
			}
		}
		c := b.Cursor()
		for k, _ := c.First(); k != nil && string(k) < string(oldest); k, _ = c.Next() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		o.mu.Lock()
		for k, counts := range p {
			h := o.pending[k]
			if h == nil {
				h = map[core.Outcome]int64{}
				o.pending[k] = h
			}
			for out, n := range counts {
				h[out] += n
			}
		}
		o.mu.Unlock()
		return fmt.Errorf("bolt outcomes: %w", err)
	}
	return nil
}

// Close stops the flushes and writes what is left; call it before the
// store's Close.
func (o *Outcomes) Close() error {
	o.once.Do(func() { close(o.stop) })
	<-o.done
	return o.Flush()
}

func decodeCounts(v []byte) (map[core.Outcome]int64, error) {
	m := map[core.Outcome]int64{}
	if v == nil {
		return m, nil
	}
	err := json.Unmarshal(v, &m)
	return m, err
}

// DeliveriesSince sums the hourly counts of the hours that end after from
// (the hour holding from counts whole): what the local server flushed.
func (s *Store) DeliveriesSince(_ context.Context, from time.Time) (map[core.Outcome]int64, error) {
	sum := map[core.Outcome]int64{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketOutcomes)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek([]byte(from.UTC().Format(hourKey))); k != nil; k, v = c.Next() {
			m, err := decodeCounts(v)
			if err != nil {
				return fmt.Errorf("hour %s: %w", k, err)
			}
			for out, n := range m {
				sum[out] += n
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bolt outcomes: %w", err)
	}
	return sum, nil
}
