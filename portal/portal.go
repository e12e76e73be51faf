package portal

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/webhookkit/delivery"
)

// Config configures the handler that New returns.
type Config struct {
	// Store is where the handler reads attempts, events and, when the
	// Store is a delivery.ActivityStore, each endpoint's backlog and chart.
	// Required.
	Store delivery.Store
	// Dispatcher carries out the actions and reports endpoint health.
	// Required. The actions that send (resend, redeliver) need its
	// Config.LookupEndpoint.
	Dispatcher *delivery.Dispatcher
	// Scope returns the IDs of the endpoints that the request's caller may
	// see and act on: one customer's endpoints, or every endpoint for an
	// operator. It runs on every request, after the host's own
	// authentication, which the handler does not do. Every ID in a path,
	// form or query is checked against it; whatever lies outside is
	// answered 404 Not Found, as if it did not exist. An error, or no
	// endpoints, is answered 403 Forbidden; so is every request while
	// Scope is nil. It must be safe for concurrent use.
	Scope func(r *http.Request) ([]string, error)
	// ReadOnly turns every action off: the handler then only reads.
	ReadOnly bool
	// NoResend, NoRedeliver and NoResume turn one action off each:
	// sending an event to an endpoint again, enqueueing again an
	// endpoint's failed events since a time, and resuming an endpoint
	// that the library paused or disabled.
	NoResend, NoRedeliver, NoResume bool
	// Title heads every page. Defaults to "Webhook deliveries".
	Title string
	// Logger records, at Error level, the errors that the handler answers
	// 500 to, with their cause, which the response does not show. Defaults
	// to slog.Default().
	Logger *slog.Logger
	// Now returns the current time, for the charts. Defaults to time.Now.
	Now func() time.Time
}

// ErrConfig is wrapped by the error New returns for a Config it cannot
// use.
var ErrConfig = errors.New("portal: invalid config")

// The limits of what the handler shows.
const (
	// PageSize is how many attempts a page of attempts holds.
	PageSize = 50
	// EndpointsPageSize is how many endpoints the endpoints page holds.
	EndpointsPageSize = 25
	// MaxEventAttempts is the most attempts of one event that the event
	// page shows.
	MaxEventAttempts = 1000
)

//go:embed templates static
var files embed.FS

// handler serves the portal. It keeps no state between requests beyond its
// configuration and parsed templates.
type handler struct {
	cfg   Config
	pages map[string]*template.Template
	mux   *http.ServeMux
}

// New returns the portal's http.Handler: HTML pages, and the same data as
// JSON under api/. Mount it under any path, for example with
// http.StripPrefix("/webhooks", h); its links are relative to where it is
// mounted. It is safe for concurrent use and holds no global state.
//
// Every response forbids scripts through a Content-Security-Policy, and
// every POST is checked with http.CrossOriginProtection. New returns an
// error wrapping ErrConfig when Store or Dispatcher is nil.
func New(cfg Config) (http.Handler, error) {
	if cfg.Store == nil || cfg.Dispatcher == nil {
		return nil, errors.Join(ErrConfig, errors.New("portal: a Store and a Dispatcher are required"))
	}
	if cfg.Title == "" {
		cfg.Title = "Webhook deliveries"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ReadOnly {
		cfg.NoResend, cfg.NoRedeliver, cfg.NoResume = true, true, true
	}
	h := &handler{cfg: cfg, pages: map[string]*template.Template{}, mux: http.NewServeMux()}
	for _, name := range []string{"endpoints", "attempts", "attempt", "event", "message"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		h.pages[name] = t
	}
	static, err := fs.Sub(files, "static")
	if err != nil {
		return nil, err
	}
	h.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))

	h.mux.HandleFunc("GET /{$}", h.scoped(h.endpointsPage))
	h.mux.HandleFunc("GET /attempts", h.scoped(h.attemptsPage))
	h.mux.HandleFunc("GET /attempts/{id}", h.scoped(h.attemptPage))
	h.mux.HandleFunc("GET /events/{id}", h.scoped(h.eventPage))
	h.mux.HandleFunc("POST /endpoints/{id}/resume", h.scoped(h.action(actionResume)))
	h.mux.HandleFunc("POST /endpoints/{id}/redeliver", h.scoped(h.action(actionRedeliver)))
	h.mux.HandleFunc("POST /events/{id}/resend", h.scoped(h.action(actionResend)))

	h.mux.HandleFunc("GET /api/endpoints", h.scoped(h.apiEndpoints))
	h.mux.HandleFunc("GET /api/attempts", h.scoped(h.apiAttempts))
	h.mux.HandleFunc("GET /api/attempts/{id}", h.scoped(h.apiAttempt))
	h.mux.HandleFunc("GET /api/events/{id}", h.scoped(h.apiEvent))
	h.mux.HandleFunc("POST /api/endpoints/{id}/resume", h.scoped(h.apiAction(actionResume)))
	h.mux.HandleFunc("POST /api/endpoints/{id}/redeliver", h.scoped(h.apiAction(actionRedeliver)))
	h.mux.HandleFunc("POST /api/events/{id}/resend", h.scoped(h.apiAction(actionResend)))

	return http.NewCrossOriginProtection().Handler(h), nil
}

// contentSecurityPolicy allows no script at all, styles and images from the
// portal alone, and forms that post back to it.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// ServeHTTP sets the headers every response carries, then routes.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Cache-Control", "no-store")
	h.mux.ServeHTTP(w, r)
}

// scope is what one request may see: its endpoint IDs, sorted, and where
// the handler is mounted.
type scope struct {
	endpoints []string
	base      string
	api       bool
}

// has reports whether the endpoint is in scope.
func (s scope) has(endpointID string) bool {
	_, found := slices.BinarySearch(s.endpoints, endpointID)
	return found
}

// listed returns the endpoints to list with: the one asked for (which
// must be in scope), or all of them.
func (s scope) listed(endpointID string) ([]string, bool) {
	if endpointID != "" {
		return []string{endpointID}, s.has(endpointID)
	}
	return s.endpoints, true
}

// scoped runs serve with the request's scope, or answers 403.
func (h *handler) scoped(serve func(http.ResponseWriter, *http.Request, scope)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sc := scope{base: mountPoint(r), api: strings.HasPrefix(r.URL.Path, "/api/")}
		if h.cfg.Scope == nil {
			h.fail(w, r, sc, http.StatusForbidden, "This portal has no scope configured: it shows nothing.", nil)
			return
		}
		ids, err := h.cfg.Scope(r)
		if err != nil || len(ids) == 0 {
			h.fail(w, r, sc, http.StatusForbidden, "You may not see any endpoint here.", err)
			return
		}
		ids = slices.Clone(ids)
		slices.Sort(ids)
		sc.endpoints = slices.Compact(ids)
		serve(w, r, sc)
	}
}

// mountPoint returns the path the handler is mounted under, without its
// final slash: the part of the request's path that http.StripPrefix (or
// the like) took off before the handler saw it.
func mountPoint(r *http.Request) string {
	full := r.URL.EscapedPath()
	if r.RequestURI != "" && r.RequestURI != "*" {
		full, _, _ = strings.Cut(r.RequestURI, "?")
	}
	base, ok := strings.CutSuffix(full, r.URL.EscapedPath())
	if !ok {
		return ""
	}
	return base
}

// errNotInScope answers every ID outside the caller's scope.
var errNotInScope = errors.New("not found")

// fail answers an error: as JSON under api/, as a page otherwise. The
// cause of a 5xx is logged and not shown.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, sc scope, code int, msg string, cause error) {
	if code >= http.StatusInternalServerError {
		// #nosec G706 -- the message is the portal's own; the path is a structured attribute, which slog's handlers quote.
		h.cfg.Logger.LogAttrs(r.Context(), slog.LevelError, "portal: "+msg, slog.String("path", r.URL.Path), slog.Any("error", cause))
	}
	if sc.api {
		writeJSON(w, code, map[string]string{"error": msg})
		return
	}
	h.render(w, r, sc, "message", code, message{Title: http.StatusText(code), Text: msg})
}

// lookupError answers the error of a read: 404 for what is not found or
// out of scope, 500 otherwise.
func (h *handler) lookupError(w http.ResponseWriter, r *http.Request, sc scope, what string, err error) {
	if errors.Is(err, delivery.ErrNotFound) || errors.Is(err, errNotInScope) {
		h.fail(w, r, sc, http.StatusNotFound, "No such "+what+".", nil)
		return
	}
	if errors.Is(err, delivery.ErrInvalidInput) {
		h.fail(w, r, sc, http.StatusBadRequest, "That "+what+" cannot be looked up: "+inputProblem(err), nil)
		return
	}
	if errors.Is(err, context.Canceled) {
		return
	}
	h.fail(w, r, sc, http.StatusInternalServerError, "The "+what+" could not be read.", err)
}

// inputProblem returns the message of an input error without the
// package's prefix.
func inputProblem(err error) string {
	_, after, found := strings.Cut(err.Error(), delivery.ErrInvalidInput.Error()+": ")
	if !found {
		return err.Error()
	}
	return after
}
