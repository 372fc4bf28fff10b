package firestore

import (
	"container/list"
	"sync"
	"time"

	"github.com/geminiwebhooks/receiver/core/jobs"
)

// jobCache remembers, per process, the job records this ledger last wrote
// or read and their update times, so that the next update of a job starts
// from there instead of a read. It is sound because every write is
// preconditioned on that update time: a record someone else changed since
// fails the write, which then reads. A stale entry costs a round trip,
// never a wrong record.
type jobCache struct {
	mu  sync.Mutex
	max int
	ll  *list.List // front: most recently used
	m   map[string]*list.Element
}

type cachedJob struct {
	id  string
	job *jobs.Job
	at  time.Time
}

func newJobCache(max int) *jobCache {
	return &jobCache{max: max, ll: list.New(), m: make(map[string]*list.Element)}
}

// get returns a copy of the remembered record of id, its update time, and
// whether there is one.
func (c *jobCache) get(id string) (*jobs.Job, time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	if !ok {
		return nil, time.Time{}, false
	}
	c.ll.MoveToFront(e)
	cj := e.Value.(*cachedJob)
	return cj.job.Clone(), cj.at, true
}

// put remembers j (copied) as id's record at update time at.
func (c *jobCache) put(id string, j *jobs.Job, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[id]; ok {
		e.Value = &cachedJob{id: id, job: j.Clone(), at: at}
		c.ll.MoveToFront(e)
		return
	}
	c.m[id] = c.ll.PushFront(&cachedJob{id: id, job: j.Clone(), at: at})
	for c.ll.Len() > c.max {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.m, old.Value.(*cachedJob).id)
	}
}
