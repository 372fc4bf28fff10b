package jobs

// Internals the external tests (package jobs_test) exercise.
type ExactReader = exactReader

var (
	NewSummer   = newSummer
	StartNotice = startNotice
	SentNotice  = sentNotice
)
