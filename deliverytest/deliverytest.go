// Package deliverytest helps hosts test their webhooks: a receiver that
// verifies signatures and records what each endpoint got, a Config that
// lets a Dispatcher reach it, a wait until nothing is due, and assertions.
//
//	r := deliverytest.NewReceiver(t)
//	d, _ := delivery.NewDispatcher(store, r.Config())
//	_ = d.Start(ctx)
//	t.Cleanup(func() { _ = d.Stop(context.Background()) })
//	_, _ = d.Enqueue(ctx, event, r.Endpoint("ep_1"), nil) // the host's code under test does this
//	deliverytest.Drain(t, store)
//	r.RequireDelivered(t, event.ID, "ep_1")
package deliverytest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webhookkit/delivery"
)

// Loopback is the address policy that lets a Dispatcher under test reach
// receivers on this machine (127.0.0.0/8 and ::1), which
// delivery.DefaultAddressPolicy refuses.
var Loopback = delivery.AllowNetworks(netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"))

// Request is one request a Receiver got.
type Request struct {
	// EventID is the webhook-id header.
	EventID string
	// Header and Body are the request's.
	Header http.Header
	Body   []byte
	// Verified reports whether the signature verified with the Receiver's
	// secret.
	Verified bool
	// Status is the status code the Receiver answered.
	Status int
}

// Receiver is an HTTP server on 127.0.0.1 that stands for the customers'
// endpoints: endpoint ID at URL/ID. It verifies each request's signature
// with its secret, records it, and answers 204, 401 when the signature
// does not verify, or the status set with Respond. It is safe for
// concurrent use.
type Receiver struct {
	// URL is the server's base URL.
	URL string
	// Secret is the signing secret of every endpoint it makes.
	Secret string

	verifier *delivery.Verifier
	mu       sync.Mutex
	got      map[string][]Request
	status   map[string]int
}

// NewReceiver starts a Receiver with a new secret, and closes it when the
// test ends.
func NewReceiver(t testing.TB) *Receiver {
	t.Helper()
	r := &Receiver{Secret: delivery.NewSecret(), got: map[string][]Request{}, status: map[string]int{}}
	v, err := delivery.NewVerifier(r.Secret)
	if err != nil {
		t.Fatalf("deliverytest: %v", err)
	}
	r.verifier = v
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	endpoint := strings.TrimPrefix(req.URL.Path, "/")
	body, err := io.ReadAll(io.LimitReader(req.Body, delivery.MaxBodySize))
	verified := err == nil && r.verifier.Verify(req.Header, body) == nil
	r.mu.Lock()
	status, ok := r.status[endpoint]
	if !ok {
		status = http.StatusNoContent
	}
	if !verified {
		status = http.StatusUnauthorized
	}
	r.got[endpoint] = append(r.got[endpoint], Request{
		EventID: req.Header.Get(delivery.HeaderID), Header: req.Header.Clone(), Body: body, Verified: verified, Status: status,
	})
	r.mu.Unlock()
	w.WriteHeader(status)
}

// Endpoint returns the endpoint with the given ID, at this Receiver and
// signed with its secret.
func (r *Receiver) Endpoint(id string) delivery.Endpoint {
	return delivery.Endpoint{ID: id, URL: r.URL + "/" + id, Secrets: []string{r.Secret}}
}

// Respond makes the Receiver answer requests to the endpoint with status,
// for the requests that verify.
func (r *Receiver) Respond(endpointID string, status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status[endpointID] = status
}

// Requests returns the requests the endpoint got, in order of arrival.
func (r *Receiver) Requests(endpointID string) []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got[endpointID])
}

// Lookup is a delivery.EndpointFunc for this Receiver: every ID is an
// endpoint here.
func (r *Receiver) Lookup(_ context.Context, id string) (delivery.Endpoint, error) {
	return r.Endpoint(id), nil
}

// Config returns the Config of a Dispatcher under test that delivers to
// this Receiver: the Loopback address policy, Lookup as Config.LookupEndpoint,
// and a 10 ms poll interval; the rest is default.
func (r *Receiver) Config() *delivery.Config {
	return &delivery.Config{AddressPolicy: Loopback, LookupEndpoint: r.Lookup, PollInterval: 10 * time.Millisecond}
}

// RequireDelivered fails the test unless the endpoint got a request for
// the event whose signature verified and that it answered with 2xx.
func (r *Receiver) RequireDelivered(t testing.TB, eventID, endpointID string) {
	t.Helper()
	for _, req := range r.Requests(endpointID) {
		if req.EventID == eventID && req.Verified && req.Status >= 200 && req.Status < 300 {
			return
		}
	}
	t.Fatalf("deliverytest: event %s was not delivered to endpoint %s; it got %d requests", eventID, endpointID, len(r.Requests(endpointID)))
}

// DrainTimeout bounds Drain: a test whose Dispatcher never drains fails
// instead of hanging.
const DrainTimeout = time.Minute

// Drain waits, up to DrainTimeout, until store holds no pending attempt
// that is due (see WaitDrained), and fails the test if it still does.
func Drain(t testing.TB, store delivery.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), DrainTimeout)
	defer cancel()
	if err := WaitDrained(ctx, store); err != nil {
		t.Fatalf("deliverytest: drain: %v", err)
	}
}

// WaitDrained waits until store holds no pending attempt that is due by the
// wall clock: every attempt enqueued for now was sent and recorded, and any
// retry due later is left pending. A Dispatcher must be running on store
// (see delivery.Dispatcher.Start). It asks the store every 5 ms. When ctx
// ends first, it returns an error wrapping ctx's error that names an
// attempt still due.
func WaitDrained(ctx context.Context, store delivery.Store) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		// The store is asked without ctx's cancellation, so that the error
		// can name what is still due; ctx bounds the wait between asks.
		page, err := store.List(context.WithoutCancel(ctx), delivery.ListQuery{
			Statuses: []delivery.Status{delivery.StatusPending}, ScheduledTo: time.Now().Add(time.Microsecond), Limit: 1,
		})
		switch {
		case err != nil:
			return err
		case len(page.Attempts) == 0:
			return nil
		}
		select {
		case <-ctx.Done():
			a := page.Attempts[0]
			return fmt.Errorf("attempt %s of event %s to endpoint %s is still due: %w", a.ID, a.EventID, a.EndpointID, ctx.Err())
		case <-tick.C:
		}
	}
}
