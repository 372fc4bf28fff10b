package bolt

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sync"
)

// startsSuffix names the file, beside the bbolt file, where the queue
// records which attempts are running: path + startsSuffix.
const startsSuffix = ".running"

// A start slot: the run it belongs to, the task's attempts when the attempt
// began, the SHA-256 of the task id and a CRC-32 of those (a slot torn by
// a power cut reads as empty). All zeros: free.
const (
	slotSize = 64
	slotSum  = 12 // offset of the id's hash
	slotCRC  = slotSum + sha256.Size
)

// starts records the attempts running now, one fixed slot each, in a small
// file written with plain writes: no transaction and no fdatasync, so the
// record costs one write(2) when an attempt begins and one when it ends.
// What write(2) put in the page cache outlives the process (a SIGKILL, the
// OOM killer, a panic), which is the crash a poison event causes; a power
// cut may lose it, and then the attempts it interrupted run again free.
// Each slot names the run (Tasks.Resume counts them) so that a slot left by
// an older run is never charged twice.
type starts struct {
	f   *os.File
	run uint64

	mu   sync.Mutex
	free []int64 // slots ended, to reuse
	next int64   // the first slot never used in this run
}

// readStarts opens (or creates) path and returns what its slots of run
// say was running: the task id's hash, with the attempts the task had when
// its attempt began.
func readStarts(path string, run uint64) (*os.File, map[[sha256.Size]byte]uint32, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("running attempts: %w", err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("running attempts: %w", err)
	}
	running := make(map[[sha256.Size]byte]uint32)
	for ; len(b) >= slotSize; b = b[slotSize:] {
		s := b[:slotSize]
		if run == 0 || binary.LittleEndian.Uint64(s) != run || binary.LittleEndian.Uint32(s[slotCRC:]) != crc32.ChecksumIEEE(s[:slotCRC]) {
			continue
		}
		running[[sha256.Size]byte(s[slotSum:slotCRC])] = binary.LittleEndian.Uint32(s[8:])
	}
	return f, running, nil
}

// startKey is what a slot keeps of a task id.
func startKey(id string) [sha256.Size]byte { return sha256.Sum256([]byte(id)) }

// begin records that an attempt of id starts with attempts already counted
// and returns its slot.
func (s *starts) begin(id string, attempts int) (int64, error) {
	s.mu.Lock()
	slot := s.next
	if n := len(s.free); n > 0 {
		slot, s.free = s.free[n-1], s.free[:n-1]
	} else {
		s.next++
	}
	s.mu.Unlock()
	var b [slotSize]byte
	binary.LittleEndian.PutUint64(b[:], s.run)
	binary.LittleEndian.PutUint32(b[8:], uint32(attempts))
	key := startKey(id)
	copy(b[slotSum:], key[:])
	binary.LittleEndian.PutUint32(b[slotCRC:], crc32.ChecksumIEEE(b[:slotCRC]))
	if _, err := s.f.WriteAt(b[:], slot*slotSize); err != nil {
		s.release(slot)
		return 0, fmt.Errorf("record the attempt's start: %w", err)
	}
	return slot, nil
}

// end forgets slot's attempt and frees the slot.
func (s *starts) end(slot int64) {
	var zero [slotSize]byte
	// A slot that stays written only charges its task if the task still
	// has the attempts it had when this attempt began.
	_, _ = s.f.WriteAt(zero[:], slot*slotSize)
	s.release(slot)
}

func (s *starts) release(slot int64) {
	s.mu.Lock()
	s.free = append(s.free, slot)
	s.mu.Unlock()
}

// errNotResumed is BeginAttempt before Resume.
var errNotResumed = errors.New("bolt tasks: an attempt began before Resume")
