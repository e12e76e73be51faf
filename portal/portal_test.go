package portal_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/webhookkit/delivery"
	"github.com/webhookkit/delivery/memstore"
	"github.com/webhookkit/delivery/portal"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// hostile is what a malicious receiver answers: markup that would run
// script if a page rendered it.
const hostile = `<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"><b>bold</b>`

// secret signs every endpoint; no page may show it.
const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// fixture is a store with attempts of two customers: A owns ep_a, B owns
// ep_b, and evt_shared went to both.
type fixture struct {
	store    *memstore.Store
	d        *delivery.Dispatcher
	receiver *httptest.Server
	// ids are attempt IDs by "event/endpoint/number".
	ids map[string]string
	// fail makes the receiver fail every request to these endpoints.
	mu   sync.Mutex
	fail map[string]bool
	// clock, when not 0, is the Dispatcher's time in Unix nanoseconds.
	clock atomic.Int64
}

// now is the Dispatcher's clock.
func (f *fixture) now() time.Time {
	if t := f.clock.Load(); t != 0 {
		return time.Unix(0, t)
	}
	return time.Now()
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{store: memstore.New(), ids: map[string]string{}, fail: map[string]bool{"ep_b": true}}
	f.receiver = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ep := strings.TrimPrefix(r.URL.Path, "/")
		f.mu.Lock()
		failing := f.fail[ep]
		f.mu.Unlock()
		if failing {
			w.Header().Set("X-Evil", hostile)
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, hostile)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"received":true,"endpoint":"`+ep+`"}`)
	}))
	t.Cleanup(f.receiver.Close)
	var err error
	f.d, err = delivery.NewDispatcher(f.store, &delivery.Config{
		AddressPolicy:  delivery.AllowNetworks(netip.MustParsePrefix("127.0.0.0/8")),
		LookupEndpoint: f.endpoint,
		Logger:         discard(),
		Now:            f.now,
		Retry:          delivery.NewRetryPolicy(), // no retries: each delivery is one attempt
	})
	require.NoError(t, err)
	ctx := context.Background()
	deliver := func(event, typ string, endpoints ...string) {
		for _, ep := range endpoints {
			e, err := f.endpoint(ctx, ep)
			require.NoError(t, err)
			a, err := f.d.Deliver(ctx, delivery.Event{ID: event, Type: typ, Payload: []byte(`{"id":"` + event + `","amount":42}`)}, e)
			if ep != "ep_b" {
				require.NoError(t, err)
			}
			f.ids[fmt.Sprintf("%s/%s/%d", event, ep, a.AttemptNumber)] = a.ID
		}
	}
	deliver("evt_a1", "invoice.paid", "ep_a")
	deliver("evt_a2", "invoice.failed", "ep_a")
	deliver("evt_b1", "invoice.paid", "ep_b")
	deliver("evt_shared", "invoice.paid", "ep_a", "ep_b")
	return f
}

// endpoint is the fixture's LookupEndpoint.
func (f *fixture) endpoint(_ context.Context, id string) (delivery.Endpoint, error) {
	return delivery.Endpoint{ID: id, URL: f.receiver.URL + "/" + id + "?token=tok_visible", Secrets: []string{secret}, Headers: map[string]string{"Authorization": "Bearer host-credential"}}, nil
}

// portal returns the fixture's portal as cfg configures it.
func (f *fixture) portal(t *testing.T, cfg portal.Config) http.Handler {
	t.Helper()
	cfg.Store, cfg.Dispatcher = f.store, f.d
	if cfg.Logger == nil {
		cfg.Logger = discard()
	}
	h, err := portal.New(cfg)
	require.NoError(t, err)
	return h
}

// handler returns the fixture's portal mounted under /hooks/.
func (f *fixture) handler(t *testing.T, cfg portal.Config) http.Handler {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/hooks/", http.StripPrefix("/hooks", f.portal(t, cfg)))
	return mux
}

// scopeOf returns a Scope that sees the given endpoints.
func scopeOf(endpoints ...string) func(*http.Request) ([]string, error) {
	return func(*http.Request) ([]string, error) { return endpoints, nil }
}

// get serves a GET of path and returns the response and its body.
func get(t *testing.T, h http.Handler, path string) (*http.Response, string) {
	t.Helper()
	return serve(t, h, httptest.NewRequest(http.MethodGet, path, nil))
}

// post serves a same-origin form POST of path.
func post(t *testing.T, h http.Handler, path string, form url.Values) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return serve(t, h, req)
}

func serve(t *testing.T, h http.Handler, req *http.Request) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res, string(body)
}

func TestPages(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t, portal.Config{Scope: scopeOf("ep_a", "ep_b")})
	failed := f.ids["evt_b1/ep_b/1"]

	res, body := get(t, h, "/hooks/")
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	require.Contains(t, body, `data-endpoint="ep_a"`)
	require.Contains(t, body, `data-endpoint="ep_b"`)
	require.Contains(t, body, `<svg class="chart"`, "the chart is drawn on the server")
	require.Contains(t, body, "3 succeeded")
	require.Contains(t, body, `href="/hooks/static/portal.css"`, "links are under the mount point")

	res, body = get(t, h, "/hooks/attempts")
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	require.Less(t, strings.Index(body, f.ids["evt_shared/ep_b/1"]), strings.Index(body, f.ids["evt_a1/ep_a/1"]), "newest first")

	res, body = get(t, h, "/hooks/attempts/"+failed)
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	require.Contains(t, body, "failure")
	require.Contains(t, body, "webhook-id")
	require.Contains(t, body, "tok_visible", "the URL as recorded")
	require.Contains(t, body, "(computed with the endpoint&#39;s secret when sent; not kept)")

	res, body = get(t, h, "/hooks/events/evt_a1")
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	require.Contains(t, body, "&#34;amount&#34;: 42", "the payload, indented")

	res, body = get(t, h, "/hooks/static/portal.css")
	require.Equal(t, http.StatusOK, res.StatusCode, body)
}

func TestAttemptsFilters(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t, portal.Config{Scope: scopeOf("ep_a", "ep_b")})
	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{"evt_shared/ep_b/1", "evt_shared/ep_a/1", "evt_b1/ep_b/1", "evt_a2/ep_a/1", "evt_a1/ep_a/1"}},
		{"status=failure", []string{"evt_shared/ep_b/1", "evt_b1/ep_b/1"}},
		{"type=invoice.failed", []string{"evt_a2/ep_a/1"}},
		{"event=evt_shared", []string{"evt_shared/ep_b/1", "evt_shared/ep_a/1"}},
		{"endpoint=ep_a&type=invoice.paid", []string{"evt_shared/ep_a/1", "evt_a1/ep_a/1"}},
		{"from=2000-01-01T00:00&to=2001-01-01T00:00", nil},
		{"from=" + url.QueryEscape(time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)) + "&status=success", []string{"evt_shared/ep_a/1", "evt_a2/ep_a/1", "evt_a1/ep_a/1"}},
	}
	for _, tt := range tests {
		res, body := get(t, h, "/hooks/api/attempts?"+tt.query)
		require.Equal(t, http.StatusOK, res.StatusCode, body)
		var page struct{ Attempts []delivery.Attempt }
		require.NoError(t, json.Unmarshal([]byte(body), &page))
		var got []string
		for _, a := range page.Attempts {
			got = append(got, fmt.Sprintf("%s/%s/%d", a.EventID, a.EndpointID, a.AttemptNumber))
		}
		require.Equal(t, tt.want, got, tt.query)
	}
	for _, bad := range []string{"status=lost", "from=yesterday", "cursor=not-an-id"} {
		res, body := get(t, h, "/hooks/api/attempts?"+bad)
		require.Equal(t, http.StatusBadRequest, res.StatusCode, bad)
		require.Contains(t, body, `"error"`)
		res, _ = get(t, h, "/hooks/attempts?"+bad)
		require.Equal(t, http.StatusBadRequest, res.StatusCode, bad)
	}
}

func TestAttemptsPaging(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ep, err := f.endpoint(ctx, "ep_a")
	require.NoError(t, err)
	for i := range portal.PageSize + 10 {
		_, err := f.d.Deliver(ctx, delivery.Event{ID: fmt.Sprintf("evt_p%03d", i), Type: "bulk", Payload: []byte(`{}`)}, ep)
		require.NoError(t, err)
	}
	h := f.handler(t, portal.Config{Scope: scopeOf("ep_a")})
	seen := map[string]bool{}
	query := "type=bulk"
	var last string
	for pages := 0; ; pages++ {
		require.Less(t, pages, 3)
		res, body := get(t, h, "/hooks/api/attempts?"+query)
		require.Equal(t, http.StatusOK, res.StatusCode, body)
		var page struct {
			Attempts []delivery.Attempt
			Next     string
		}
		require.NoError(t, json.Unmarshal([]byte(body), &page))
		for _, a := range page.Attempts {
			require.False(t, seen[a.ID])
			if last != "" {
				require.Less(t, a.ID, last, "newest first across pages")
			}
			seen[a.ID], last = true, a.ID
		}
		if page.Next == "" {
			break
		}
		query = "type=bulk&cursor=" + page.Next
	}
	require.Len(t, seen, portal.PageSize+10)

	_, body := get(t, h, "/hooks/attempts?type=bulk")
	require.Contains(t, body, `rel="next"`)
	require.Contains(t, body, "cursor=", "the next page's link carries the cursor")
	require.Contains(t, body, "type=bulk", "and the filter")
}

// TestTenantIsolation checks every route with a caller scoped to ep_a:
// nothing of ep_b is read or acted on, by any ID or cursor.
func TestTenantIsolation(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t, portal.Config{Scope: scopeOf("ep_a")})
	b1, sharedB := f.ids["evt_b1/ep_b/1"], f.ids["evt_shared/ep_b/1"]
	forbidden := []string{b1, sharedB, "evt_b1"}

	for _, tt := range []struct {
		name, path string
		code       int
	}{
		{"attempt page of another", "/hooks/attempts/" + b1, http.StatusNotFound},
		{"attempt API of another", "/hooks/api/attempts/" + b1, http.StatusNotFound},
		{"event page of another", "/hooks/events/evt_b1", http.StatusNotFound},
		{"event API of another", "/hooks/api/events/evt_b1", http.StatusNotFound},
		{"attempts page of another endpoint", "/hooks/attempts?endpoint=ep_b", http.StatusNotFound},
		{"attempts API of another endpoint", "/hooks/api/attempts?endpoint=ep_b", http.StatusNotFound},
		{"attempts of another's event", "/hooks/api/attempts?event=evt_b1", http.StatusOK},
		{"attempts after another's cursor", "/hooks/api/attempts?cursor=" + f.ids["evt_shared/ep_b/1"] + "Z", http.StatusBadRequest},
		{"attempts from another's cursor", "/hooks/api/attempts?cursor=" + b1, http.StatusOK},
		{"shared event page", "/hooks/events/evt_shared", http.StatusOK},
		{"shared event API", "/hooks/api/events/evt_shared", http.StatusOK},
		{"endpoints page", "/hooks/", http.StatusOK},
		{"endpoints API", "/hooks/api/endpoints", http.StatusOK},
		{"endpoints API after", "/hooks/api/endpoints?after=ep_0", http.StatusOK},
		{"attempts page", "/hooks/attempts", http.StatusOK},
	} {
		res, body := get(t, h, tt.path)
		require.Equal(t, tt.code, res.StatusCode, "%s: %s", tt.name, body)
		for _, s := range forbidden {
			require.NotContains(t, body, s, tt.name)
		}
		require.NotContains(t, body, `"ep_b"`, tt.name)
		require.NotContains(t, body, ">ep_b<", tt.name)
	}

	for _, tt := range []struct {
		name, path string
		form       url.Values
	}{
		{"resume another endpoint", "/hooks/endpoints/ep_b/resume", nil},
		{"resume another endpoint by API", "/hooks/api/endpoints/ep_b/resume", nil},
		{"redeliver another endpoint", "/hooks/endpoints/ep_b/redeliver", url.Values{"since": {"2000-01-01T00:00"}}},
		{"redeliver another endpoint by API", "/hooks/api/endpoints/ep_b/redeliver", nil},
		{"resend to another endpoint", "/hooks/events/evt_a1/resend", url.Values{"endpoint": {"ep_b"}}},
		{"resend another's event to one's own", "/hooks/events/evt_b1/resend", url.Values{"endpoint": {"ep_a"}}},
		{"resend another's event by API", "/hooks/api/events/evt_b1/resend", url.Values{"endpoint": {"ep_a"}}},
		{"resend with no endpoint", "/hooks/events/evt_a1/resend", nil},
	} {
		before := f.count(t)
		res, body := post(t, h, tt.path, tt.form)
		require.Equal(t, http.StatusNotFound, res.StatusCode, "%s: %s", tt.name, body)
		require.Equal(t, before, f.count(t), "%s changed the store", tt.name)
	}

	// The shared event shows only the caller's attempt.
	_, body := get(t, h, "/hooks/api/events/evt_shared")
	var ev struct{ Attempts []delivery.Attempt }
	require.NoError(t, json.Unmarshal([]byte(body), &ev))
	require.Len(t, ev.Attempts, 1)
	require.Equal(t, "ep_a", ev.Attempts[0].EndpointID)
}

// count returns how many attempts the store holds.
func (f *fixture) count(t *testing.T) int {
	page, err := f.store.List(context.Background(), delivery.ListQuery{Limit: delivery.MaxListLimit})
	require.NoError(t, err)
	return len(page.Attempts)
}

func TestNoScope(t *testing.T) {
	f := newFixture(t)
	for name, cfg := range map[string]portal.Config{
		"no Scope":    {},
		"Scope fails": {Scope: func(*http.Request) ([]string, error) { return nil, errors.New("not signed in") }},
		"empty scope": {Scope: scopeOf()},
	} {
		h := f.handler(t, cfg)
		for _, path := range []string{"/hooks/", "/hooks/attempts", "/hooks/api/attempts", "/hooks/attempts/" + f.ids["evt_a1/ep_a/1"], "/hooks/api/events/evt_a1"} {
			res, body := get(t, h, path)
			require.Equal(t, http.StatusForbidden, res.StatusCode, "%s %s", name, path)
			require.NotContains(t, body, "evt_a1", name)
		}
		res, _ := post(t, h, "/hooks/endpoints/ep_a/resume", nil)
		require.Equal(t, http.StatusForbidden, res.StatusCode, name)
	}
}

// TestHostileResponse checks that what a receiver sent is shown as text,
// and that every response forbids script.
func TestHostileResponse(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t, portal.Config{Scope: scopeOf("ep_a", "ep_b")})
	for _, path := range []string{"/hooks/attempts/" + f.ids["evt_b1/ep_b/1"], "/hooks/", "/hooks/attempts", "/hooks/events/evt_b1", "/hooks/api/attempts/" + f.ids["evt_b1/ep_b/1"], "/hooks/nothing-here"} {
		res, body := get(t, h, path)
		csp := res.Header.Get("Content-Security-Policy")
		require.Contains(t, csp, "default-src 'none'", path)
		require.NotContains(t, csp, "script-src", path)
		require.NotContains(t, csp, "unsafe-inline", path)
		require.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"), path)
		require.NotContains(t, body, "<script", path)
		require.NotContains(t, body, "<img", path)
		require.NotContains(t, body, "<b>bold", path)
	}
	_, body := get(t, h, "/hooks/attempts/"+f.ids["evt_b1/ep_b/1"])
	require.Contains(t, body, "&lt;script&gt;window.__pwned = 1&lt;/script&gt;", "the body, as text")
	require.Contains(t, body, "X-Evil", "the header, by name")
}

// TestNoSecrets crawls every page and API response of both customers'
// data and finds neither the signing secret nor the endpoint's own
// headers.
func TestNoSecrets(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t, portal.Config{Scope: scopeOf("ep_a", "ep_b")})
	paths := []string{"/hooks/", "/hooks/attempts", "/hooks/api/endpoints", "/hooks/api/attempts", "/hooks/events/evt_shared", "/hooks/api/events/evt_shared"}
	for _, id := range f.ids {
		paths = append(paths, "/hooks/attempts/"+id, "/hooks/api/attempts/"+id)
	}
	for _, path := range paths {
		res, body := get(t, h, path)
		require.Equal(t, http.StatusOK, res.StatusCode, path)
		require.NotContains(t, body, secret, path)
		require.NotContains(t, body, strings.TrimPrefix(secret, "whsec_"), path)
		require.NotContains(t, body, "host-credential", path)
		require.NotContains(t, body, "v1,", "no signature: %s", path)
	}
}

func TestCrossOriginPostsRefused(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t, portal.Config{Scope: scopeOf("ep_a")})
	for name, set := range map[string]func(*http.Request){
		"cross-site fetch": func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") },
		"other origin":     func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") },
	} {
		before := f.count(t)
		req := httptest.NewRequest(http.MethodPost, "/hooks/events/evt_a1/resend", strings.NewReader("endpoint=ep_a"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		set(req)
		res, _ := serve(t, h, req)
		require.Equal(t, http.StatusForbidden, res.StatusCode, name)
		require.Equal(t, before, f.count(t), name)
	}
	res, _ := get(t, h, "/hooks/events/evt_a1/resend")
	require.Equal(t, http.StatusMethodNotAllowed, res.StatusCode, "actions are POST only")
}

func TestActions(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t, portal.Config{Scope: scopeOf("ep_a", "ep_b")})
	ctx := context.Background()

	res, _ := post(t, h, "/hooks/events/evt_a1/resend", url.Values{"endpoint": {"ep_a"}})
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	loc := res.Header.Get("Location")
	require.True(t, strings.HasPrefix(loc, "/hooks/attempts/"), loc)
	res, body := get(t, h, loc)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, body, "The event was sent again")
	require.Contains(t, body, "2, manual")

	res, body = post(t, h, "/hooks/api/events/evt_a1/resend", url.Values{"endpoint": {"ep_a"}})
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	var resent struct{ Attempt delivery.Attempt }
	require.NoError(t, json.Unmarshal([]byte(body), &resent))
	require.Equal(t, 3, resent.Attempt.AttemptNumber)
	require.Equal(t, delivery.StatusSuccess, resent.Attempt.Status)

	// ep_b recovers; its failures are enqueued again.
	f.mu.Lock()
	f.fail["ep_b"] = false
	f.mu.Unlock()
	res, body = post(t, h, "/hooks/api/endpoints/ep_b/redeliver", url.Values{"since": {time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)}})
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	require.JSONEq(t, `{"redelivered": 2, "resumed": false}`, body)
	page, err := f.store.List(ctx, delivery.ListQuery{EndpointID: "ep_b", Statuses: []delivery.Status{delivery.StatusPending}})
	require.NoError(t, err)
	require.Len(t, page.Attempts, 2)
	res, _ = post(t, h, "/hooks/endpoints/ep_b/redeliver", nil)
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	require.Equal(t, "/hooks/?done=redelivered&n=0", res.Header.Get("Location"), "pending ones are not enqueued twice")

	// A paused endpoint is resumed.
	_, err = f.store.Pause(ctx, delivery.PauseRequest{EndpointID: "ep_a", Until: time.Now().Add(time.Hour), Cooldown: time.Minute})
	require.NoError(t, err)
	_, body = get(t, h, "/hooks/")
	require.Contains(t, body, `name="resume"`)
	res, _ = post(t, h, "/hooks/endpoints/ep_a/resume", nil)
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	require.Equal(t, "/hooks/?done=resumed", res.Header.Get("Location"))
	health, err := f.d.EndpointHealth(ctx, "ep_a")
	require.NoError(t, err)
	require.Equal(t, delivery.HealthOK, health.State(time.Now()))
}

func TestActionsTurnedOff(t *testing.T) {
	f := newFixture(t)
	for name, cfg := range map[string]portal.Config{
		"read-only":    {ReadOnly: true},
		"each one off": {NoResend: true, NoRedeliver: true, NoResume: true},
	} {
		cfg.Scope = scopeOf("ep_a")
		h := f.handler(t, cfg)
		before := f.count(t)
		for _, tt := range []struct {
			path string
			form url.Values
		}{
			{"/hooks/events/evt_a1/resend", url.Values{"endpoint": {"ep_a"}}},
			{"/hooks/api/events/evt_a1/resend", url.Values{"endpoint": {"ep_a"}}},
			{"/hooks/endpoints/ep_a/redeliver", nil},
			{"/hooks/endpoints/ep_a/resume", nil},
		} {
			res, _ := post(t, h, tt.path, tt.form)
			require.Equal(t, http.StatusForbidden, res.StatusCode, "%s %s", name, tt.path)
		}
		require.Equal(t, before, f.count(t))
		for _, path := range []string{"/hooks/", "/hooks/events/evt_a1", "/hooks/attempts/" + f.ids["evt_a1/ep_a/1"]} {
			_, body := get(t, h, path)
			require.NotContains(t, body, `method="post"`, "%s: %s shows no action", name, path)
		}
	}
}

func TestNewNeedsStoreAndDispatcher(t *testing.T) {
	_, err := portal.New(portal.Config{Store: memstore.New()})
	require.ErrorIs(t, err, portal.ErrConfig)
}

// IDs may hold any printable ASCII: the links escape them, and the routes
// find them again.
func TestIDsWithReservedCharacters(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ep, err := f.endpoint(ctx, "ep/a?b")
	require.NoError(t, err)
	a, err := f.d.Deliver(ctx, delivery.Event{ID: "evt/7?x#%20&y", Type: "odd", Payload: []byte(`{}`)}, ep)
	require.NoError(t, err)
	h := f.handler(t, portal.Config{Scope: scopeOf("ep/a?b")})

	_, body := get(t, h, "/hooks/attempts")
	eventLink := "/hooks/events/" + url.PathEscape("evt/7?x#%20&y")
	require.Contains(t, body, `href="`+strings.ReplaceAll(eventLink, "&", "&amp;")+`"`)
	res, body := get(t, h, eventLink)
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	require.Contains(t, body, a.ID)
	res, body = get(t, h, "/hooks/attempts?endpoint="+url.QueryEscape("ep/a?b"))
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	require.Contains(t, body, a.ID)
	res, body = post(t, h, "/hooks/api/events/"+url.PathEscape("evt/7?x#%20&y")+"/resend", url.Values{"endpoint": {"ep/a?b"}})
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	res, _ = post(t, h, "/hooks/endpoints/"+url.PathEscape("ep/a?b")+"/resume", nil)
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
}

// A Store that adds up no activity still gets its endpoints page, without
// backlogs or charts.
func TestStoreWithoutActivity(t *testing.T) {
	f := newFixture(t)
	h, err := portal.New(portal.Config{Store: struct{ delivery.Store }{f.store}, Dispatcher: f.d, Scope: scopeOf("ep_a"), Logger: discard()})
	require.NoError(t, err)
	_, body := get(t, h, "/")
	require.Contains(t, body, "not kept by this store")
	require.NotContains(t, body, `<svg`)
	_, body = get(t, h, "/api/endpoints")
	require.JSONEq(t, `{"endpoints": [{"endpoint_id": "ep_a", "state": "ok", "failures": 0, "last_status_code": 200}]}`, body)
}
