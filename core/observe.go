package core

import "time"

// DeliveryObserver is told the outcome of each delivery the receiver
// answered, after its log line is written. It runs on the delivery's own
// goroutine, before the answer is returned: it must not block or call out
// (count in memory and flush elsewhere), or every delivery waits on it.
type DeliveryObserver interface {
	ObserveDelivery(o Outcome, at time.Time)
}

// noObserver is the default: the log line is the only record.
type noObserver struct{}

func (noObserver) ObserveDelivery(Outcome, time.Time) {}
