package portal

import (
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/webhookkit/delivery"
)

// endpointsPage lists the endpoints in scope with their health, backlog
// and chart.
func (h *handler) endpointsPage(w http.ResponseWriter, r *http.Request, sc scope) {
	rows, next, err := h.endpointRows(r.Context(), sc, r.URL.Query().Get("after"))
	if err != nil {
		h.lookupError(w, r, sc, "endpoint", err)
		return
	}
	h.render(w, r, sc, "endpoints", http.StatusOK, struct {
		Endpoints []endpointRow
		Next      string
		Since     string
	}{rows, next, h.cfg.Now().UTC().Add(-chartHours * time.Hour).Format("2006-01-02T15:04")})
}

// attemptsPage lists attempts newest first, filtered.
func (h *handler) attemptsPage(w http.ResponseWriter, r *http.Request, sc scope) {
	f := parseFilter(r.URL.Query())
	pg, err := h.attempts(r, sc, f)
	if err != nil {
		h.requestError(w, r, sc, err)
		return
	}
	// A link's query was built by url.Values.Encode: it is a query
	// already, which the template must not escape again.
	type link struct{ Query template.URL }
	data := struct {
		Filter    filter
		Attempts  []delivery.Attempt
		Endpoints []string
		Statuses  []string
		Next      *link
		First     *link
	}{Filter: f, Attempts: pg.Attempts, Endpoints: sc.endpoints, Statuses: []string{"success", "failure", "pending", "canceled"}}
	if pg.Next != "" {
		data.Next = &link{template.URL(f.with("cursor", pg.Next))} // #nosec G203 -- encoded by url.Values
	}
	if f.Cursor != "" {
		data.First = &link{template.URL(f.with("cursor", ""))} // #nosec G203 -- encoded by url.Values
	}
	h.render(w, r, sc, "attempts", http.StatusOK, data)
}

// attempts returns the page of attempts that f asks for.
func (h *handler) attempts(r *http.Request, sc scope, f filter) (delivery.Page, error) {
	q, err := f.query(sc)
	if err != nil {
		return delivery.Page{}, err
	}
	return h.cfg.Store.List(r.Context(), q)
}

// attemptPage shows one attempt: the request, the response, and its
// neighbours.
func (h *handler) attemptPage(w http.ResponseWriter, r *http.Request, sc scope) {
	v, err := h.attempt(r.Context(), sc, r.PathValue("id"))
	if err != nil {
		h.lookupError(w, r, sc, "attempt", err)
		return
	}
	h.render(w, r, sc, "attempt", http.StatusOK, v)
}

// eventPage shows an event's payload and its attempts to endpoints in
// scope.
func (h *handler) eventPage(w http.ResponseWriter, r *http.Request, sc scope) {
	v, err := h.event(r.Context(), sc, r.PathValue("id"))
	if err != nil {
		h.lookupError(w, r, sc, "event", err)
		return
	}
	h.render(w, r, sc, "event", http.StatusOK, v)
}

// action answers the form of an action with a redirect to the page that
// shows its outcome.
func (h *handler) action(a action) func(http.ResponseWriter, *http.Request, scope) {
	return func(w http.ResponseWriter, r *http.Request, sc scope) {
		res, err := h.perform(r, sc, a)
		if err != nil {
			h.requestError(w, r, sc, err)
			return
		}
		to := sc.base + "/?done=resumed"
		switch a {
		case actionResend:
			to = sc.base + "/attempts/" + url.PathEscape(res.Attempt.ID) + "?done=resent"
		case actionRedeliver:
			to = sc.base + "/?done=redelivered&n=" + strconv.Itoa(res.Redelivered)
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
	}
}
