package portal

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/webhookkit/delivery"
)

// endpointRow is what the endpoints page and api/endpoints show of one
// endpoint.
type endpointRow struct {
	ID     string
	Health delivery.EndpointHealth
	State  delivery.HealthState
	// Activity is nil when the Store adds up none.
	Activity *delivery.EndpointActivity
	// Buckets are the hours of the chart, oldest first.
	Buckets []time.Time
	// Succeeded and Failed add up the buckets.
	Succeeded, Failed int
	Chart             chart
	// Problems reports that the endpoint is not ok: the page then shows
	// its last status and error.
	Problems bool
}

// chartHours is how many hours the endpoint charts cover.
const chartHours = 24

// endpointRows returns the page of the scope's endpoints that follows the
// endpoint ID after, and the cursor of the next.
func (h *handler) endpointRows(ctx context.Context, sc scope, after string) ([]endpointRow, string, error) {
	start, _ := slices.BinarySearch(sc.endpoints, after)
	if after != "" && start < len(sc.endpoints) && sc.endpoints[start] == after {
		start++
	}
	ids := sc.endpoints[start:]
	next := ""
	if len(ids) > EndpointsPageSize {
		ids = ids[:EndpointsPageSize]
		next = ids[len(ids)-1]
	}
	now := h.cfg.Now().UTC()
	rows := make([]endpointRow, len(ids))
	for i, id := range ids {
		health, err := h.cfg.Dispatcher.EndpointHealth(ctx, id)
		if err != nil {
			return nil, "", fmt.Errorf("health of %s: %w", id, err)
		}
		rows[i] = endpointRow{ID: id, Health: health, State: health.State(now)}
		rows[i].Problems = rows[i].State != delivery.HealthOK
	}
	as, ok := h.cfg.Store.(delivery.ActivityStore)
	if !ok || len(ids) == 0 {
		return rows, next, nil
	}
	q := delivery.ActivityQuery{EndpointIDs: ids, From: now.Truncate(time.Hour).Add(-(chartHours - 1) * time.Hour), Step: time.Hour, Buckets: chartHours}
	acts, err := as.Activity(ctx, q)
	if err != nil {
		return nil, "", fmt.Errorf("activity: %w", err)
	}
	for i := range rows {
		act := acts[i]
		rows[i].Activity = &act
		for b := range q.Buckets {
			rows[i].Buckets = append(rows[i].Buckets, q.From.Add(time.Duration(b)*q.Step))
			rows[i].Succeeded += act.Succeeded[b]
			rows[i].Failed += act.Failed[b]
		}
		rows[i].Chart = newChart(rows[i].Buckets, act)
	}
	return rows, next, nil
}

// filter is what the attempts page lists: the query's fields as given,
// and the ListQuery they make.
type filter struct {
	Endpoint, Status, Type, Event, From, To, Cursor string
}

// errBadInput wraps what is wrong with a filter or a form: the request's
// own mistake, answered 400 with the message.
var errBadInput = errors.New("bad input")

// parseFilter reads a filter from a query string.
func parseFilter(v url.Values) filter {
	return filter{
		Endpoint: strings.TrimSpace(v.Get("endpoint")),
		Status:   strings.TrimSpace(v.Get("status")),
		Type:     strings.TrimSpace(v.Get("type")),
		Event:    strings.TrimSpace(v.Get("event")),
		From:     strings.TrimSpace(v.Get("from")),
		To:       strings.TrimSpace(v.Get("to")),
		Cursor:   strings.TrimSpace(v.Get("cursor")),
	}
}

// query returns the ListQuery of f within sc: newest first, a page at a
// time. An endpoint out of scope is errNotInScope.
func (f filter) query(sc scope) (delivery.ListQuery, error) {
	q := delivery.ListQuery{Descending: true, Limit: PageSize, EventType: f.Type, EventID: f.Event}
	ids, ok := sc.listed(f.Endpoint)
	if !ok {
		return q, errNotInScope
	}
	if len(ids) > delivery.MaxListEndpoints {
		return q, fmt.Errorf("%w: more than %d endpoints in scope: choose one", errBadInput, delivery.MaxListEndpoints)
	}
	q.EndpointIDs = ids
	if f.Status != "" {
		st, err := delivery.ParseStatus(f.Status)
		if err != nil {
			return q, fmt.Errorf("%w: unknown status %q", errBadInput, f.Status)
		}
		q.Statuses = []delivery.Status{st}
	}
	var err error
	if q.AttemptedFrom, err = parseTime(f.From); err != nil {
		return q, err
	}
	if q.AttemptedTo, err = parseTime(f.To); err != nil {
		return q, err
	}
	if f.Cursor != "" {
		if _, err := ulid.ParseStrict(f.Cursor); err != nil {
			return q, fmt.Errorf("%w: the cursor is not an attempt ID", errBadInput)
		}
		q.After = f.Cursor
	}
	return q, nil
}

// with returns f's query string with one field changed.
func (f filter) with(name, value string) string {
	v := url.Values{}
	for k, x := range map[string]string{"endpoint": f.Endpoint, "status": f.Status, "type": f.Type, "event": f.Event, "from": f.From, "to": f.To, "cursor": f.Cursor} {
		if k == name {
			x = value
		}
		if x != "" {
			v.Set(k, x)
		}
	}
	return v.Encode()
}

// parseTime reads a time as RFC 3339, or as an HTML datetime-local value
// (2006-01-02T15:04, with optional seconds) taken as UTC. Empty is the
// zero time.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: %q is not a time (use 2006-01-02T15:04 in UTC, or RFC 3339)", errBadInput, s)
}

// attemptView is one attempt with its neighbours: the attempts of the same
// event to the same endpoint just before and after it.
type attemptView struct {
	Attempt     delivery.Attempt
	Prev, Next  *delivery.Attempt
	Body        body
	Headers     []header
	RequestHead []header
}

// attempt returns the attempt with id, if its endpoint is in scope.
func (h *handler) attempt(ctx context.Context, sc scope, id string) (attemptView, error) {
	a, err := h.cfg.Store.Get(ctx, id)
	if err != nil {
		return attemptView{}, err
	}
	if !sc.has(a.EndpointID) {
		return attemptView{}, errNotInScope
	}
	v := attemptView{Attempt: a, Body: newBody(a.Response, a.ResponseTruncated), Headers: sortedHeaders(a.ResponseHeaders), RequestHead: requestHeaders(a)}
	page, err := h.cfg.Store.List(ctx, delivery.ListQuery{EventID: a.EventID, EndpointID: a.EndpointID, Limit: delivery.MaxListLimit})
	if err != nil {
		return attemptView{}, err
	}
	for i, x := range page.Attempts {
		if x.ID != a.ID {
			continue
		}
		if i > 0 {
			v.Prev = &page.Attempts[i-1]
		}
		if i+1 < len(page.Attempts) {
			v.Next = &page.Attempts[i+1]
		}
		break
	}
	return v, nil
}

// eventView is an event with its attempts to endpoints in scope.
type eventView struct {
	Event    delivery.Event
	Payload  body
	Attempts []delivery.Attempt
	// Endpoints are the endpoints in scope that the event went to.
	Endpoints []string
	Truncated bool
}

// event returns the event with id, if it went to an endpoint in scope:
// otherwise errNotInScope, so that no one learns of another's events.
func (h *handler) event(ctx context.Context, sc scope, id string) (eventView, error) {
	var v eventView
	q := delivery.ListQuery{EventID: id, Limit: delivery.MaxListLimit}
	for {
		page, err := h.cfg.Store.List(ctx, q)
		if err != nil {
			return eventView{}, err
		}
		for _, a := range page.Attempts {
			if !sc.has(a.EndpointID) {
				continue
			}
			if len(v.Attempts) == MaxEventAttempts {
				v.Truncated = true
				break
			}
			v.Attempts = append(v.Attempts, a)
			if !slices.Contains(v.Endpoints, a.EndpointID) {
				v.Endpoints = append(v.Endpoints, a.EndpointID)
			}
		}
		if page.Next == "" || v.Truncated {
			break
		}
		q.After = page.Next
	}
	if len(v.Attempts) == 0 {
		return eventView{}, errNotInScope
	}
	ev, err := h.cfg.Store.Event(ctx, id)
	if err != nil {
		return eventView{}, err
	}
	v.Event, v.Payload = ev, newBody(string(ev.Payload), false)
	slices.Sort(v.Endpoints)
	return v, nil
}
