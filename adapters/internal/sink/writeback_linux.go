package sink

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to begin writing [off, off+n) of f to disk
// now, without waiting, so the fsync that commits a landing finds most of
// the file already written instead of flushing all of it at the end (the
// bytes_per_sync of RocksDB). Errors are ignored: the fsync still decides.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
