package delivery

import (
	"context"
	"time"
)

// QueueStats is what a StatsStore reports of the work it holds, as of one
// time.
type QueueStats struct {
	// Due counts the pending attempts due at that time, in flight or
	// not, of endpoints that are neither paused nor disabled: the work
	// the workers have to do now. A paused or disabled endpoint's backlog
	// is left out, so that one dead customer does not make the queue look
	// stalled; the Paused and Disabled counts tell of them.
	Due int64
	// OldestDue is the ScheduledAt of the earliest attempt that Due
	// counts, or the zero time when Due is 0.
	OldestDue time.Time
	// Paused, Probing and Disabled count the endpoints in those states at
	// that time (see EndpointHealth.State). A Store that keeps no health
	// reports zeros.
	Paused, Probing, Disabled int64
}

// CountEndpoint adds an endpoint whose health is h to the count of its
// state at now, if that is paused, probing or disabled. Stores that keep
// health use it in QueueStats.
func (st *QueueStats) CountEndpoint(h EndpointHealth, now time.Time) {
	switch h.State(now) {
	case HealthPaused:
		st.Paused++
	case HealthProbing:
		st.Probing++
	case HealthDisabled:
		st.Disabled++
	}
}

// StatsStore is a Store that reports its queue cheaply enough to be asked
// at every metrics collection. memstore and sqlstore implement it; the
// Dispatcher's queue gauges (delivery.queue.due, delivery.queue.lag) need
// it, and are not reported for a Store without it.
type StatsStore interface {
	Store
	// QueueStats returns the queue as of now. It is safe for concurrent
	// use, changes nothing, and returns an error wrapping the context's
	// error when ctx is done first.
	QueueStats(ctx context.Context, now time.Time) (QueueStats, error)
}
