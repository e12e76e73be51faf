package portal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/webhookkit/delivery"
)

// body is a payload or response body as a page shows it: as text, never as
// markup.
type body struct {
	Text string
	// JSON reports that Text is the body's JSON, indented.
	JSON bool
	// Binary reports that the body is not valid UTF-8: Text has the
	// invalid bytes replaced.
	Binary    bool
	Truncated bool
}

// newBody returns raw as a page shows it.
func newBody(raw string, truncated bool) body {
	b := body{Text: raw, Truncated: truncated}
	var out bytes.Buffer
	switch {
	case !utf8.ValidString(raw):
		b.Text, b.Binary = strings.ToValidUTF8(raw, "\uFFFD"), true
	case json.Indent(&out, []byte(raw), "", "  ") == nil:
		b.Text, b.JSON = out.String(), true
	}
	return b
}

// header is one header line.
type header struct{ Name, Value string }

// sortedHeaders returns h's lines in name order.
func sortedHeaders(h http.Header) []header {
	var out []header
	for _, name := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[name] {
			out = append(out, header{name, v})
		}
	}
	return out
}

// requestHeaders returns the headers the library sent with a, as far as
// they can be known without a secret: the signature is computed with the
// endpoint's secret and not kept, and the endpoint's own headers may hold
// credentials, so neither is shown.
func requestHeaders(a delivery.Attempt) []header {
	if a.AttemptedAt.IsZero() {
		return nil
	}
	return []header{
		{"Content-Type", "application/json"},
		{delivery.HeaderID, a.EventID},
		{delivery.HeaderTimestamp, strconv.FormatInt(a.AttemptedAt.Unix(), 10)},
		{delivery.HeaderSignature, "(computed with the endpoint's secret when sent; not kept)"},
	}
}

// chart is the small bar chart of an endpoint's last hours, drawn on the
// server as inline SVG: one bar per hour, successes below failures.
type chart struct {
	Width, Height int
	Bars          []bar
	Max           int
}

// bar is one hour of a chart: its rectangles' geometry, in SVG units.
type bar struct {
	X, SuccessY, SuccessH, FailureY, FailureH int
	Title                                     string
}

// The geometry of a chart.
const (
	barWidth, barGap, chartHeight = 8, 2, 40
)

// newChart draws the chart of act's buckets, which start at the times
// given.
func newChart(starts []time.Time, act delivery.EndpointActivity) chart {
	c := chart{Width: len(starts) * (barWidth + barGap), Height: chartHeight}
	for i := range starts {
		c.Max = max(c.Max, act.Succeeded[i]+act.Failed[i])
	}
	for i, start := range starts {
		s, f := act.Succeeded[i], act.Failed[i]
		b := bar{X: i * (barWidth + barGap), Title: fmt.Sprintf("%s–%s UTC: %d succeeded, %d failed", start.Format("Jan 2 15:04"), start.Add(time.Hour).Format("15:04"), s, f)}
		if c.Max > 0 {
			b.SuccessH = scaled(s, c.Max)
			b.FailureH = scaled(f, c.Max)
		}
		b.SuccessY = chartHeight - b.SuccessH
		b.FailureY = b.SuccessY - b.FailureH
		c.Bars = append(c.Bars, b)
	}
	return c
}

// scaled returns n's height in a chart whose tallest bar is of most: at
// least 1 for any n above 0, so that one failure is seen.
func scaled(n, most int) int {
	if n == 0 {
		return 0
	}
	return max(1, n*chartHeight/most)
}

// funcs are the template functions.
var funcs = template.FuncMap{
	"time": func(t time.Time) string {
		if t.IsZero() {
			return "–"
		}
		return t.UTC().Format("2006-01-02 15:04:05.000 UTC")
	},
	"duration": func(d time.Duration) string {
		if d == 0 {
			return "–"
		}
		return d.Round(time.Microsecond).String()
	},
	"redacted": redactedURL,
	// path escapes an ID for one segment of a path.
	"path": url.PathEscape,
}

// message is the data of a page that only says something.
type message struct{ Title, Text string }

// page is what every template gets: the layout's data and the page's own.
type page struct {
	Title, Base string
	Config      *Config
	Flash       string
	Data        any
}

// render writes the named page with data, and code as the status.
func (h *handler) render(w http.ResponseWriter, r *http.Request, sc scope, name string, code int, data any) {
	var buf bytes.Buffer
	p := page{Title: h.cfg.Title, Base: sc.base, Config: &h.cfg, Flash: flash(r), Data: data}
	if err := h.pages[name].Execute(&buf, p); err != nil {
		h.cfg.Logger.ErrorContext(r.Context(), "portal: render "+name, "error", err)
		http.Error(w, "The page could not be drawn.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// flash returns the message of an action just done, from fixed words in
// the query: nothing the request says is echoed.
func flash(r *http.Request) string {
	q := r.URL.Query()
	switch q.Get("done") {
	case "resent":
		return "The event was sent again: this is the new attempt."
	case "resumed":
		return "The endpoint was resumed: its pending attempts go out now."
	case "redelivered":
		n, err := strconv.Atoi(q.Get("n"))
		if err != nil || n < 0 {
			return ""
		}
		return fmt.Sprintf("%d failed events were enqueued again.", n)
	}
	return ""
}

// writeJSON answers v as JSON.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// redactedURL returns an endpoint URL as recorded, with a password in it
// replaced by "xxxxx".
func redactedURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Redacted()
}
