package portal

import (
	"net/http"
	"time"

	"github.com/webhookkit/delivery"
)

// apiEndpoint is an endpoint as api/endpoints shows it.
type apiEndpoint struct {
	EndpointID     string               `json:"endpoint_id"`
	State          delivery.HealthState `json:"state"`
	Failures       int                  `json:"failures"`
	FailingSince   time.Time            `json:"failing_since,omitzero"`
	LastStatusCode int                  `json:"last_status_code"`
	LastError      string               `json:"last_error,omitempty"`
	PausedUntil    time.Time            `json:"paused_until,omitzero"`
	DisabledAt     time.Time            `json:"disabled_at,omitzero"`
	// Pending, Succeeded, Failed and Hours are left out when the Store
	// adds up no activity.
	Pending   *int      `json:"pending,omitempty"`
	Succeeded *int      `json:"succeeded_24h,omitempty"`
	Failed    *int      `json:"failed_24h,omitempty"`
	Hours     []apiHour `json:"hours,omitempty"`
}

// apiHour is one hour of an endpoint's activity.
type apiHour struct {
	Start     time.Time `json:"start"`
	Succeeded int       `json:"succeeded"`
	Failed    int       `json:"failed"`
}

// apiEndpoints answers the endpoints in scope, a page at a time.
func (h *handler) apiEndpoints(w http.ResponseWriter, r *http.Request, sc scope) {
	rows, next, err := h.endpointRows(r.Context(), sc, r.URL.Query().Get("after"))
	if err != nil {
		h.lookupError(w, r, sc, "endpoint", err)
		return
	}
	out := make([]apiEndpoint, len(rows))
	for i, row := range rows {
		hl := row.Health
		e := apiEndpoint{EndpointID: row.ID, State: row.State, Failures: hl.Failures, FailingSince: hl.FailingSince,
			LastStatusCode: hl.LastStatusCode, LastError: hl.LastError, PausedUntil: hl.PausedUntil, DisabledAt: hl.DisabledAt}
		if act := row.Activity; act != nil {
			e.Pending, e.Succeeded, e.Failed = &act.Pending, &rows[i].Succeeded, &rows[i].Failed
			for b, start := range row.Buckets {
				e.Hours = append(e.Hours, apiHour{start, act.Succeeded[b], act.Failed[b]})
			}
		}
		out[i] = e
	}
	writeJSON(w, http.StatusOK, struct {
		Endpoints []apiEndpoint `json:"endpoints"`
		Next      string        `json:"next,omitempty"`
	}{out, next})
}

// apiAttempts answers a page of attempts, newest first.
func (h *handler) apiAttempts(w http.ResponseWriter, r *http.Request, sc scope) {
	pg, err := h.attempts(r, sc, parseFilter(r.URL.Query()))
	if err != nil {
		h.requestError(w, r, sc, err)
		return
	}
	if pg.Attempts == nil {
		pg.Attempts = []delivery.Attempt{}
	}
	writeJSON(w, http.StatusOK, struct {
		Attempts []delivery.Attempt `json:"attempts"`
		Next     string             `json:"next,omitempty"`
	}{pg.Attempts, pg.Next})
}

// apiAttempt answers one attempt, with the IDs of its neighbours.
func (h *handler) apiAttempt(w http.ResponseWriter, r *http.Request, sc scope) {
	v, err := h.attempt(r.Context(), sc, r.PathValue("id"))
	if err != nil {
		h.lookupError(w, r, sc, "attempt", err)
		return
	}
	out := struct {
		delivery.Attempt
		Previous string `json:"previous_attempt_id,omitempty"`
		Next     string `json:"next_attempt_id,omitempty"`
	}{Attempt: v.Attempt}
	if v.Prev != nil {
		out.Previous = v.Prev.ID
	}
	if v.Next != nil {
		out.Next = v.Next.ID
	}
	writeJSON(w, http.StatusOK, out)
}

// apiEvent answers an event and its attempts to endpoints in scope.
func (h *handler) apiEvent(w http.ResponseWriter, r *http.Request, sc scope) {
	v, err := h.event(r.Context(), sc, r.PathValue("id"))
	if err != nil {
		h.lookupError(w, r, sc, "event", err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		ID        string             `json:"id"`
		Type      string             `json:"type"`
		Payload   string             `json:"payload"`
		Attempts  []delivery.Attempt `json:"attempts"`
		Truncated bool               `json:"attempts_truncated,omitempty"`
	}{v.Event.ID, v.Event.Type, string(v.Event.Payload), v.Attempts, v.Truncated})
}

// apiAction does an action and answers what it did.
func (h *handler) apiAction(a action) func(http.ResponseWriter, *http.Request, scope) {
	return func(w http.ResponseWriter, r *http.Request, sc scope) {
		res, err := h.perform(r, sc, a)
		if err != nil {
			h.requestError(w, r, sc, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	}
}
