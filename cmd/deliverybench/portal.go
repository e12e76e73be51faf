package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"time"

	"github.com/webhookkit/delivery"
	"github.com/webhookkit/delivery/portal"
)

// runPortal measures, on PostgreSQL, how long the portal takes to render
// its pages on the server over a table of n attempts: 1,000 endpoints, a
// fifth of the attempts to one large endpoint, sent over the last 30
// days; 90% succeeded, 8% failed, 1% pending, 1% canceled; ten event types
// and one rare one. Each page is rendered reps times after a warm-up, and
// the median, 95th percentile and largest time are reported.
func runPortal(pgDSN string, n, reps int) error {
	if pgDSN == "" {
		return fmt.Errorf("-portal needs -postgres")
	}
	s, db, done, err := postgresStore(pgDSN, "portal")
	if err != nil {
		return err
	}
	defer done()
	ctx := context.Background()

	fmt.Printf("storing %d attempts... ", n)
	start := time.Now()
	attempts := s.TablePrefix() + "attempts"
	for _, st := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO ` + s.TablePrefix() + `events (event_id, event_type, payload)
		SELECT 'evt_' || i, 'type_' || (2 * i % 10), '{"amount":42}' FROM generate_series(0, $1::int / 2) AS i`, []any{n}},
		{`INSERT INTO ` + attempts + ` (id, event_id, event_type, endpoint_id, endpoint_url, status, attempt_number, triggered_by,
			response, response_truncated, response_status_code, response_headers, error, attempted_at, duration_ns, scheduled_at)
		SELECT lpad(i::text, 26, '0'), 'evt_' || (i / 2), CASE WHEN i % 1000 = 7 THEN 'invoice.disputed' ELSE 'type_' || (i % 10) END,
			CASE WHEN i % 5 = 0 THEN 'ep_big' ELSE 'ep_' || (i % 997) END, 'https://example.com/hooks',
			CASE WHEN i % 100 = 1 THEN 2 WHEN i % 100 = 2 THEN 3 WHEN i % 100 < 11 THEN 1 ELSE 0 END, 1, 'first',
			'\x7b226f6b223a747275657d', false, CASE WHEN i % 100 < 11 THEN 500 ELSE 200 END, '{"Content-Type":["application/json"]}', '',
			CASE WHEN i % 100 IN (1, 2) THEN NULL ELSE now() - interval '30 days' + i * ($1::float8 / $2) * interval '1 second' END,
			1000000, now() - interval '30 days' + i * ($1::float8 / $2) * interval '1 second'
		FROM generate_series(1, $2::int) AS i`, []any{30 * 24 * 3600, n}},
		{"VACUUM ANALYZE " + attempts, nil},
	} {
		// #nosec G701 -- the statements name the bench's own table, whose prefix the bench made.
		if _, err := db.ExecContext(ctx, st.sql, st.args...); err != nil {
			return err
		}
	}
	fmt.Printf("%.1fs\n", time.Since(start).Seconds())

	d, err := delivery.NewDispatcher(s, nil)
	if err != nil {
		return err
	}
	operator := []string{"ep_big"}
	for i := range 997 {
		operator = append(operator, fmt.Sprintf("ep_%d", i))
	}
	customer := []string{"ep_big", "ep_3", "ep_4"}
	views := map[string]http.Handler{}
	for name, scope := range map[string][]string{"customer": customer, "operator": operator} {
		h, err := portal.New(portal.Config{Store: s, Dispatcher: d, Scope: func(*http.Request) ([]string, error) { return scope, nil }})
		if err != nil {
			return err
		}
		views[name] = h
	}
	fmt.Printf("\n%d attempts on PostgreSQL; a customer sees 3 endpoints (one with a fifth of all attempts), the operator 998\n", n)
	fmt.Printf("%-44s %9s %9s %9s\n", "page", "median", "p95", "max")
	middle := fmt.Sprintf("%026d", n/2) // an attempt of ep_big, about two weeks old
	for _, p := range []struct{ view, name, path string }{
		{"customer", "endpoints (customer)", "/"},
		{"operator", "endpoints (operator, a page of 25)", "/"},
		{"customer", "attempts (customer)", "/attempts"},
		{"customer", "attempts, status failure (customer)", "/attempts?status=failure"},
		{"customer", "attempts, rare event type (customer)", "/attempts?type=invoice.disputed"},
		{"customer", "attempts, older page (customer)", "/attempts?cursor=" + middle},
		{"operator", "attempts (operator)", "/attempts"},
		{"operator", "attempts, one endpoint (operator)", "/attempts?endpoint=ep_big"},
		{"operator", "attempts, rare event type (operator)", "/attempts?type=invoice.disputed"},
		{"customer", "event (customer)", fmt.Sprintf("/events/evt_%d", n/4)},
		{"customer", "attempt (customer)", "/attempts/" + middle},
	} {
		times := make([]time.Duration, 0, reps)
		for i := range reps + 3 {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, p.path, nil)
			t0 := time.Now()
			views[p.view].ServeHTTP(rec, req)
			took := time.Since(t0)
			if rec.Code != http.StatusOK {
				return fmt.Errorf("%s: %d: %.200s", p.path, rec.Code, rec.Body.String())
			}
			if i >= 3 {
				times = append(times, took)
			}
		}
		slices.Sort(times)
		fmt.Printf("%-44s %9s %9s %9s\n", p.name, ms(times[len(times)/2]), ms(times[len(times)*95/100]), ms(times[len(times)-1]))
	}
	return nil
}

// ms formats d in milliseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
