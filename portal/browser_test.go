package portal_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/webhookkit/delivery"
	"github.com/webhookkit/delivery/portal"
)

// browser starts headless Chromium for one test, or skips the test when
// DELIVERY_TEST_CHROMIUM does not name the browser to run. It returns a
// context to run chromedp actions in, and the directory to save
// screenshots in: DELIVERY_SCREENSHOTS if set, else a temporary one.
func browser(t *testing.T) (context.Context, string) {
	t.Helper()
	exe := os.Getenv("DELIVERY_TEST_CHROMIUM")
	if exe == "" {
		t.Skip("set DELIVERY_TEST_CHROMIUM to a Chromium binary (such as /usr/bin/chromium) to run the browser tests")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1280, 900),
	)
	// A bound on a hang, generous for a loaded machine.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		cancel()
	})
	require.NoError(t, chromedp.Do(bctx), "start Chromium")
	dir := os.Getenv("DELIVERY_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	return bctx, dir
}

// portalServer serves the fixture's portal to a browser: under /ops/ with
// every endpoint in scope, and under /a/ with customer A's alone.
func portalServer(t *testing.T, f *fixture) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/ops/", http.StripPrefix("/ops", f.portal(t, portal.Config{Scope: scopeOf("ep_a", "ep_b"), Title: "Acme webhooks"})))
	mux.Handle("/a/", http.StripPrefix("/a", f.portal(t, portal.Config{Scope: scopeOf("ep_a"), Title: "Acme webhooks"})))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// screenshot saves the whole page as name.png in dir.
func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o600))
}

// do runs steps in the browser.
func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx, steps...))
}

// text returns the visible text of the first element that sel matches.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	require.NoError(t, err, sel)
	return s
}

// eval returns the value of a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	require.NoError(t, err, expr)
	return v
}

// visible waits until sel matches a visible element.
func visible(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.CSS(sel))
}

// click clicks the first element that sel matches.
func click(sel string) chromedp.Action[chromedp.Void] { return chromedp.Click(chromedp.CSS(sel)) }

// TestBrowser drives the portal in headless Chromium as a person would:
// it reads the endpoints and their charts, filters and pages attempts,
// opens a hostile response and finds it inert, resends an event and
// resumes an endpoint, and is refused another customer's attempt.
func TestBrowser(t *testing.T) {
	ctx, shots := browser(t)
	f := newFixture(t)
	ep, err := f.endpoint(context.Background(), "ep_a")
	require.NoError(t, err)
	// A day of deliveries to ep_a, sent over the last 23 hours: the chart
	// has a bar in each hour that had one.
	hours := map[time.Time]bool{time.Now().UTC().Truncate(time.Hour): true}
	start := time.Now().Add(-23 * time.Hour)
	for i := range portal.PageSize + 5 {
		at := start.Add(time.Duration(i) * 25 * time.Minute)
		hours[at.UTC().Truncate(time.Hour)] = true
		f.clock.Store(at.UnixNano())
		_, err := f.d.Deliver(context.Background(), delivery.Event{ID: fmt.Sprintf("evt_bulk_%03d", i), Type: "order.created", Payload: fmt.Appendf(nil, `{"order":%d}`, i)}, ep)
		require.NoError(t, err)
	}
	f.clock.Store(0)
	srv := portalServer(t, f)
	ops := srv.URL + "/ops"

	t.Run("endpoints", func(t *testing.T) {
		do(t, ctx, chromedp.Navigate(ops+"/"), visible("#endpoints"))
		require.Equal(t, "failing", text(t, ctx, `tr[data-endpoint="ep_b"] [data-field="state"]`))
		require.Equal(t, "2", text(t, ctx, `tr[data-endpoint="ep_b"] [data-field="failed"]`))
		require.Equal(t, itoa(portal.PageSize+5+3), text(t, ctx, `tr[data-endpoint="ep_a"] [data-field="succeeded"]`))
		require.Equal(t, len(hours), eval[int](t, ctx, `document.querySelectorAll('tr[data-endpoint="ep_a"] svg.chart rect.s').length`), "a bar for each hour with successes")
		require.Equal(t, 1, eval[int](t, ctx, `document.querySelectorAll('tr[data-endpoint="ep_b"] svg.chart rect.f').length`), "this hour's failures, one bar")
		screenshot(t, ctx, shots, "endpoints")
	})

	t.Run("attempts filtered and paged", func(t *testing.T) {
		rows := `document.querySelectorAll('#attempts tbody tr[data-attempt]').length`
		do(t, ctx, chromedp.Navigate(ops+"/attempts"), visible("#attempts"))
		require.Equal(t, portal.PageSize, eval[int](t, ctx, rows))
		screenshot(t, ctx, shots, "attempts")
		do(t, ctx, click(`a[rel="next"]`), visible(`nav.pages a[href*="attempts?"]`))
		require.Equal(t, 5+5, eval[int](t, ctx, rows), "the rest: 5 bulk and the fixture's 5")
		require.Equal(t, "← Newest", text(t, ctx, `nav.pages a`))

		do(t, ctx, chromedp.Navigate(ops+"/attempts"), visible("#attempts"),
			chromedp.SetValue(chromedp.CSS(`select[name="status"]`), "failure"),
			chromedp.Submit(chromedp.CSS(`form.filters`)),
			chromedp.WaitReady(chromedp.CSS(`option[value="failure"][selected]`)))
		require.Equal(t, []string{f.ids["evt_shared/ep_b/1"], f.ids["evt_b1/ep_b/1"]},
			eval[[]string](t, ctx, `[...document.querySelectorAll('#attempts tbody tr')].map(r => r.dataset.attempt)`))
		require.Equal(t, []string{"failure", "failure"}, eval[[]string](t, ctx, `[...document.querySelectorAll('#attempts tbody td.status')].map(td => td.textContent)`))
	})

	t.Run("hostile response is inert", func(t *testing.T) {
		do(t, ctx, chromedp.Navigate(ops+"/attempts/"+f.ids["evt_b1/ep_b/1"]), visible("pre.body"))
		require.Equal(t, hostile, text(t, ctx, "pre.body"), "shown as the text it is")
		require.Equal(t, hostile, text(t, ctx, "#response-headers tr:last-child code"), "the header too")
		require.True(t, eval[bool](t, ctx, `window.__pwned === undefined`), "no script ran")
		require.Zero(t, eval[int](t, ctx, `document.scripts.length`))
		require.Zero(t, eval[int](t, ctx, `document.images.length`))
		screenshot(t, ctx, shots, "attempt")
	})

	t.Run("resend from the event page", func(t *testing.T) {
		do(t, ctx, chromedp.Navigate(ops+"/events/evt_shared"), visible("#timeline"))
		require.Equal(t, "{\n  \"id\": \"evt_shared\",\n  \"amount\": 42\n}", text(t, ctx, "pre.body"))
		require.Equal(t, 2, eval[int](t, ctx, `document.querySelectorAll('#timeline tbody tr').length`))
		screenshot(t, ctx, shots, "event")
		do(t, ctx, click(`form[action$="/resend"] button`), visible(".flash"))
		require.Equal(t, "The event was sent again: this is the new attempt.", text(t, ctx, ".flash"))
		require.Equal(t, "success", text(t, ctx, `[data-field="status"]`))
	})

	t.Run("resume a paused endpoint", func(t *testing.T) {
		_, err := f.store.Pause(context.Background(), delivery.PauseRequest{EndpointID: "ep_a", Until: time.Now().Add(time.Hour), Cooldown: time.Minute})
		require.NoError(t, err)
		do(t, ctx, chromedp.Navigate(ops+"/"), visible("#endpoints"))
		require.Equal(t, "paused", text(t, ctx, `tr[data-endpoint="ep_a"] [data-field="state"]`))
		do(t, ctx, click(`tr[data-endpoint="ep_a"] button[name="resume"]`), visible(".flash"))
		require.Equal(t, "The endpoint was resumed: its pending attempts go out now.", text(t, ctx, ".flash"))
		require.Equal(t, "ok", text(t, ctx, `tr[data-endpoint="ep_a"] [data-field="state"]`))
	})

	t.Run("redeliver an endpoint's failures", func(t *testing.T) {
		f.mu.Lock()
		f.fail["ep_b"] = false
		f.mu.Unlock()
		do(t, ctx, chromedp.Navigate(ops+"/"), visible("#endpoints"))
		require.Equal(t, "0", text(t, ctx, `tr[data-endpoint="ep_b"] [data-field="pending"]`))
		do(t, ctx, click(`tr[data-endpoint="ep_b"] button[name="redeliver"]`), visible(".flash"))
		require.Equal(t, "2 failed events were enqueued again.", text(t, ctx, ".flash"))
		require.Equal(t, "2", text(t, ctx, `tr[data-endpoint="ep_b"] [data-field="pending"]`), "the backlog, which no worker here sends")
	})

	t.Run("another customer's attempt", func(t *testing.T) {
		do(t, ctx, chromedp.Navigate(srv.URL+"/a/attempts/"+f.ids["evt_b1/ep_b/1"]), visible("#message"))
		require.Equal(t, "No such attempt.", text(t, ctx, "#message"))
		do(t, ctx, chromedp.Navigate(srv.URL+"/a/"), visible("#endpoints"))
		require.Equal(t, 1, eval[int](t, ctx, `document.querySelectorAll('#endpoints tr[data-endpoint]').length`))
	})
}
