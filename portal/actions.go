package portal

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/webhookkit/delivery"
)

// action is one of the things the portal can do, not only read.
type action int

// The actions.
const (
	actionResend action = iota
	actionRedeliver
	actionResume
)

// actionResult is what an action did.
type actionResult struct {
	// Attempt is the new attempt of a resend.
	Attempt *delivery.Attempt `json:"attempt,omitempty"`
	// Redelivered counts the events a redelivery enqueued again.
	Redelivered int `json:"redelivered"`
	// Resumed reports that an endpoint was resumed.
	Resumed bool `json:"resumed"`
}

// errActionOff answers an action that the Config turned off.
var errActionOff = errors.New("this action is turned off")

// perform does action a, after checking that it is on and that every ID
// it names is in scope.
func (h *handler) perform(r *http.Request, sc scope, a action) (actionResult, error) {
	ctx, id := r.Context(), r.PathValue("id")
	if err := r.ParseForm(); err != nil {
		return actionResult{}, fmt.Errorf("%w: the form could not be read", errBadInput)
	}
	switch a {
	case actionResume:
		if h.cfg.NoResume {
			return actionResult{}, errActionOff
		}
		if !sc.has(id) {
			return actionResult{}, errNotInScope
		}
		if err := h.cfg.Dispatcher.ResumeEndpoint(ctx, id); err != nil {
			return actionResult{}, err
		}
		return actionResult{Resumed: true}, nil
	case actionRedeliver:
		if h.cfg.NoRedeliver {
			return actionResult{}, errActionOff
		}
		if !sc.has(id) {
			return actionResult{}, errNotInScope
		}
		since, err := parseTime(r.PostForm.Get("since"))
		if err != nil {
			return actionResult{}, err
		}
		if since.IsZero() {
			since = h.cfg.Now().Add(-chartHours * time.Hour)
		}
		n, err := h.cfg.Dispatcher.RedeliverFailed(ctx, id, since)
		if err != nil {
			return actionResult{}, err
		}
		return actionResult{Redelivered: n}, nil
	default:
		if h.cfg.NoResend {
			return actionResult{}, errActionOff
		}
		endpoint := r.PostForm.Get("endpoint")
		if !sc.has(endpoint) {
			return actionResult{}, errNotInScope
		}
		// The event must have gone to this endpoint before: resending
		// another customer's event to one's own endpoint would show its
		// payload.
		page, err := h.cfg.Store.List(ctx, delivery.ListQuery{EventID: id, EndpointID: endpoint, Limit: 1})
		if err != nil {
			return actionResult{}, err
		}
		if len(page.Attempts) == 0 {
			return actionResult{}, errNotInScope
		}
		at, err := h.cfg.Dispatcher.Resend(ctx, id, endpoint)
		if err != nil && at.ID == "" {
			return actionResult{}, err
		}
		return actionResult{Attempt: &at}, nil
	}
}

// requestError answers an action or a listing that failed: 403 for an
// action turned off, 400 for a bad filter or form, 404 for what is out of
// scope or not found.
func (h *handler) requestError(w http.ResponseWriter, r *http.Request, sc scope, err error) {
	switch {
	case errors.Is(err, errActionOff):
		h.fail(w, r, sc, http.StatusForbidden, "This action is turned off here.", nil)
	case errors.Is(err, errBadInput):
		h.fail(w, r, sc, http.StatusBadRequest, err.Error(), nil)
	default:
		h.lookupError(w, r, sc, "endpoint or event", err)
	}
}
