package delivery

import (
	"context"
	"slices"
	"time"
)

// ActivityStore is a Store that also adds up what endpoints' attempts did,
// cheaply enough to draw a chart per endpoint on every page view: how many
// attempts of each endpoint are pending, and how many were sent and
// succeeded or failed in each interval of a time range. memstore and
// sqlstore implement it; the portal package draws its endpoint charts with
// it, and does without them for a Store that lacks it.
//
// Activity is safe for concurrent use, like every Store method.
type ActivityStore interface {
	Store
	// Activity returns one EndpointActivity for each of q.EndpointIDs, in
	// that order; an endpoint with no attempts has zero counts. It counts
	// an attempt that succeeded or failed in the bucket that holds its
	// AttemptedAt; attempts never sent (AttemptedAt zero) and canceled
	// ones are in no bucket. A query that q.Validate refuses is an error
	// wrapping ErrInvalidInput.
	Activity(ctx context.Context, q ActivityQuery) ([]EndpointActivity, error)
}

// MaxActivityBuckets is the most buckets an ActivityQuery may ask for.
const MaxActivityBuckets = 1000

// ActivityQuery asks ActivityStore.Activity for the counts of some
// endpoints over Buckets consecutive intervals of Step, the first of which
// starts at From: bucket i holds AttemptedAt in [From+i*Step,
// From+(i+1)*Step).
type ActivityQuery struct {
	// EndpointIDs are the endpoints to count: at least one, at most
	// MaxListEndpoints, none empty, and none twice.
	EndpointIDs []string
	// From is when the first bucket starts. Required.
	From time.Time
	// Step is each bucket's length: at least a second.
	Step time.Duration
	// Buckets is how many buckets: 1 to MaxActivityBuckets.
	Buckets int
}

// Validate returns an error wrapping ErrInvalidInput when q breaks the
// limits in its field docs. Stores call it from Activity.
func (q ActivityQuery) Validate() error {
	if len(q.EndpointIDs) == 0 || q.From.IsZero() || q.Step < time.Second || q.Buckets < 1 || q.Buckets > MaxActivityBuckets {
		return invalid("an activity query needs endpoint IDs, a start, a step of at least a second and 1 to %d buckets", MaxActivityBuckets)
	}
	if len(slices.Compact(slices.Sorted(slices.Values(q.EndpointIDs)))) < len(q.EndpointIDs) {
		return invalid("an activity query names an endpoint twice")
	}
	return validEndpointIDs(q.EndpointIDs)
}

// To returns the end of q's last bucket: attempts sent at or after it are
// not counted.
func (q ActivityQuery) To() time.Time {
	return q.From.Add(time.Duration(q.Buckets) * q.Step)
}

// Bucket returns the index of the bucket that holds t, and false when t is
// outside them all.
func (q ActivityQuery) Bucket(t time.Time) (int, bool) {
	if t.Before(q.From) || !t.Before(q.To()) {
		return 0, false
	}
	return int(t.Sub(q.From) / q.Step), true
}

// Zero returns what Activity returns for q when no attempt is stored: one
// EndpointActivity per endpoint of q, in order, with zero counts; and the
// index of each endpoint ID in it, for a Store to add its counts to.
func (q ActivityQuery) Zero() ([]EndpointActivity, map[string]int) {
	out := make([]EndpointActivity, len(q.EndpointIDs))
	index := make(map[string]int, len(q.EndpointIDs))
	for i, id := range q.EndpointIDs {
		out[i] = EndpointActivity{EndpointID: id, Succeeded: make([]int, q.Buckets), Failed: make([]int, q.Buckets)}
		index[id] = i
	}
	return out, index
}

// EndpointActivity is what one endpoint's attempts add up to.
type EndpointActivity struct {
	// EndpointID names the endpoint.
	EndpointID string
	// Pending counts its pending attempts, due or not: its backlog.
	Pending int
	// Succeeded and Failed count, per bucket, the attempts sent in it
	// that succeeded and that failed. Both have ActivityQuery.Buckets
	// entries.
	Succeeded, Failed []int
}
