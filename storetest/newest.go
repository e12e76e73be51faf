package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/webhookkit/delivery"
)

// testListNewest checks the filters a portal lists with: several endpoints
// at once, an event type, and the newest first, paged both ways.
func testListNewest(t *testing.T, s delivery.Store) {
	// Seven endpoints, two event types, 60 attempts inserted out of order.
	attempts := make([]delivery.Attempt, 60)
	for i := range attempts {
		attempts[i] = pending(fmt.Sprintf("evt_%d", i), fmt.Sprintf("ep_%d", i%7))
		if i%3 == 0 {
			attempts[i].EventType = "invoice.failed"
		}
	}
	rev := slices.Clone(attempts)
	slices.Reverse(rev)
	insert(t, s, rev[:30]...)
	insert(t, s, rev[30:]...)

	want := func(keep func(i int, a delivery.Attempt) bool, newest bool) []string {
		var ids []string
		for i, a := range attempts {
			if keep(i, a) {
				ids = append(ids, a.ID)
			}
		}
		if newest {
			slices.Reverse(ids)
		}
		return ids
	}
	inSet := func(i int, _ delivery.Attempt) bool { return i%7 == 1 || i%7 == 4 }
	failedType := func(i int, _ delivery.Attempt) bool { return i%3 == 0 }
	// A set larger than a store may read endpoint by endpoint.
	large := []string{"ep_4"}
	for i := range 40 {
		large = append(large, fmt.Sprintf("ep_x%d", i))
	}
	large = append(large, "ep_1")
	tests := []struct {
		name string
		q    delivery.ListQuery
		want []string
	}{
		{"newest first", delivery.ListQuery{Descending: true}, want(func(int, delivery.Attempt) bool { return true }, true)},
		{"newest first, paged", delivery.ListQuery{Descending: true, Limit: 7}, want(func(int, delivery.Attempt) bool { return true }, true)},
		{"endpoint set", delivery.ListQuery{EndpointIDs: []string{"ep_1", "ep_4"}}, want(inSet, false)},
		{"endpoint set, newest first, paged", delivery.ListQuery{EndpointIDs: []string{"ep_4", "ep_1", "ep_99"}, Descending: true, Limit: 3}, want(inSet, true)},
		{"large endpoint set, newest first, paged", delivery.ListQuery{EndpointIDs: large, Descending: true, Limit: 5}, want(inSet, true)},
		{"large endpoint set, of one type", delivery.ListQuery{EndpointIDs: large, EventType: "invoice.failed"},
			want(func(i int, a delivery.Attempt) bool { return inSet(i, a) && failedType(i, a) }, false)},
		{"endpoint set naming one twice", delivery.ListQuery{EndpointIDs: []string{"ep_4", "ep_1", "ep_4"}, Descending: true, Limit: 4}, want(inSet, true)},
		{"endpoint set and endpoint", delivery.ListQuery{EndpointIDs: []string{"ep_1", "ep_4"}, EndpointID: "ep_4"}, want(func(i int, _ delivery.Attempt) bool { return i%7 == 4 }, false)},
		{"endpoint set and another endpoint", delivery.ListQuery{EndpointIDs: []string{"ep_1"}, EndpointID: "ep_4"}, nil},
		{"unknown endpoints", delivery.ListQuery{EndpointIDs: []string{"ep_99"}}, nil},
		{"event type", delivery.ListQuery{EventType: "invoice.failed"}, want(failedType, false)},
		{"event type, newest first, paged", delivery.ListQuery{EventType: "invoice.failed", Descending: true, Limit: 4}, want(failedType, true)},
		{"event type and endpoint set", delivery.ListQuery{EventType: "invoice.failed", EndpointIDs: []string{"ep_1", "ep_4"}, Descending: true},
			want(func(i int, a delivery.Attempt) bool { return inSet(i, a) && failedType(i, a) }, true)},
		{"unknown event type", delivery.ListQuery{EventType: "invoice"}, nil},
		{"newest first from a cursor", delivery.ListQuery{Descending: true, After: attempts[10].ID}, want(func(i int, _ delivery.Attempt) bool { return i < 10 }, true)},
		{"newest first after the oldest", delivery.ListQuery{Descending: true, After: attempts[0].ID}, nil},
		{"newest first from a cursor past the newest", delivery.ListQuery{Descending: true, After: attempts[59].ID + "z", Limit: 5}, want(func(int, delivery.Attempt) bool { return true }, true)},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, list(t, s, tt.q), tt.name)
	}

	page, err := s.List(context.Background(), delivery.ListQuery{Descending: true, Limit: 2})
	require.NoError(t, err)
	require.Equal(t, []string{attempts[59].ID, attempts[58].ID}, []string{page.Attempts[0].ID, page.Attempts[1].ID})
	require.Equal(t, attempts[58].ID, page.Next, "the cursor of a newest-first page is its last, oldest, attempt")
	page, err = s.List(context.Background(), delivery.ListQuery{Descending: true, Limit: 2, After: attempts[2].ID})
	require.NoError(t, err)
	require.Len(t, page.Attempts, 2)
	require.Empty(t, page.Next, "the last page has no next cursor, even when full")
}

// testListInvalid checks that List refuses queries it cannot answer as
// asked, rather than answering another.
func testListInvalid(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	insert(t, s, pending("evt_1", "ep_1"))
	many := make([]string, delivery.MaxListEndpoints+1)
	for i := range many {
		many[i] = fmt.Sprintf("ep_%d", i)
	}
	for name, q := range map[string]delivery.ListQuery{
		"too many endpoints": {EndpointIDs: many},
		"an empty endpoint":  {EndpointIDs: []string{"ep_1", ""}},
	} {
		_, err := s.List(ctx, q)
		require.ErrorIs(t, err, delivery.ErrInvalidInput, name)
	}
	page, err := s.List(ctx, delivery.ListQuery{EndpointIDs: many[:delivery.MaxListEndpoints]})
	require.NoError(t, err, "MaxListEndpoints endpoints")
	require.Len(t, page.Attempts, 1)
}

// testActivity checks an ActivityStore's counts: pending attempts per
// endpoint, and sent ones per bucket by status, with the bounds of each
// bucket exact to the microsecond.
func testActivity(t *testing.T, s delivery.Store) {
	as, ok := s.(delivery.ActivityStore)
	if !ok {
		t.Skip("the store adds up no activity")
	}
	ctx := context.Background()
	q := delivery.ActivityQuery{EndpointIDs: []string{"ep_2", "ep_1", "ep_none"}, From: base, Step: time.Hour, Buckets: 3}
	// sent returns a final attempt of endpoint sent at base+offset.
	sent := func(endpoint string, status delivery.Status, offset time.Duration) delivery.Attempt {
		a := pending(fmt.Sprintf("evt_%s_%v_%v", endpoint, status, offset), endpoint)
		insert(t, s, a)
		f := completed(a, status)
		if status != delivery.StatusCanceled {
			f.AttemptedAt = base.Add(offset)
		}
		require.NoError(t, s.Complete(ctx, f, nil))
		return f
	}
	sent("ep_1", delivery.StatusSuccess, 0)                          // bucket 0, its first instant
	sent("ep_1", delivery.StatusSuccess, time.Hour-time.Microsecond) // bucket 0, its last instant
	sent("ep_1", delivery.StatusFailure, time.Hour)                  // bucket 1
	sent("ep_1", delivery.StatusFailure, 2*time.Hour+time.Minute)    // bucket 2
	sent("ep_1", delivery.StatusSuccess, -time.Microsecond)          // before
	sent("ep_1", delivery.StatusSuccess, 3*time.Hour)                // after
	sent("ep_1", delivery.StatusCanceled, 0)                         // canceled: never sent
	sent("ep_2", delivery.StatusFailure, 90*time.Minute)             // bucket 1
	sent("ep_3", delivery.StatusSuccess, 0)                          // not asked for
	unsent := pending("evt_unsent", "ep_2")
	insert(t, s, unsent)
	f := completed(unsent, delivery.StatusFailure)
	f.AttemptedAt, f.Duration, f.ResponseStatusCode, f.Response, f.ResponseHeaders = time.Time{}, 0, 0, "", nil
	require.NoError(t, s.Complete(ctx, f, nil)) // a lookup failure: never sent
	insert(t, s, pending("evt_p1", "ep_2"), pending("evt_p2", "ep_2"), pending("evt_p3", "ep_1"), pending("evt_p4", "ep_3"))
	require.NoError(t, s.Insert(ctx, delivery.Job{Attempt: pending("evt_p5", "ep_2"), Lease: delivery.Lease{Owner: "w", Until: base.Add(time.Minute)}}))

	got, err := as.Activity(ctx, q)
	require.NoError(t, err)
	require.Equal(t, []delivery.EndpointActivity{
		{EndpointID: "ep_2", Pending: 3, Succeeded: []int{0, 0, 0}, Failed: []int{0, 1, 0}},
		{EndpointID: "ep_1", Pending: 1, Succeeded: []int{2, 0, 0}, Failed: []int{0, 1, 1}},
		{EndpointID: "ep_none", Pending: 0, Succeeded: []int{0, 0, 0}, Failed: []int{0, 0, 0}},
	}, got)

	for name, bad := range map[string]delivery.ActivityQuery{
		"no endpoints":    {From: base, Step: time.Hour, Buckets: 1},
		"empty endpoint":  {EndpointIDs: []string{""}, From: base, Step: time.Hour, Buckets: 1},
		"endpoint twice":  {EndpointIDs: []string{"ep_1", "ep_2", "ep_1"}, From: base, Step: time.Hour, Buckets: 1},
		"no start":        {EndpointIDs: []string{"ep_1"}, Step: time.Hour, Buckets: 1},
		"short step":      {EndpointIDs: []string{"ep_1"}, From: base, Step: time.Millisecond, Buckets: 1},
		"no buckets":      {EndpointIDs: []string{"ep_1"}, From: base, Step: time.Hour},
		"too many bucket": {EndpointIDs: []string{"ep_1"}, From: base, Step: time.Hour, Buckets: delivery.MaxActivityBuckets + 1},
	} {
		_, err := as.Activity(ctx, bad)
		require.ErrorIs(t, err, delivery.ErrInvalidInput, name)
	}
}
