package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"time"

	"github.com/webhookkit/delivery"
	"github.com/webhookkit/delivery/memstore"
)

func ExampleDispatcher_Deliver() {
	// A receiver that accepts everything.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	d, err := delivery.NewDispatcher(memstore.New(), &delivery.Config{
		// The test receiver is on 127.0.0.1, which the default policy refuses.
		AddressPolicy: delivery.AllowNetworks(netip.MustParsePrefix("127.0.0.0/8")),
	})
	if err != nil {
		panic(err)
	}
	defer d.Stop(context.Background()) // closes its idle connections
	a, err := d.Deliver(context.Background(),
		delivery.Event{ID: "evt_1", Type: "invoice.paid", Payload: []byte(`{"amount":100}`)},
		delivery.Endpoint{ID: "ep_1", URL: srv.URL, Secrets: []string{delivery.NewSecret()}},
	)
	fmt.Println(a.Status, a.ResponseStatusCode, a.AttemptNumber, err)
	// Output: success 204 1 <nil>
}

func ExampleDispatcher_Purge() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()

	// A clock that the example moves forward.
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	store := memstore.New()
	d, err := delivery.NewDispatcher(store, &delivery.Config{
		AddressPolicy: delivery.AllowNetworks(netip.MustParsePrefix("127.0.0.0/8")),
		Now:           func() time.Time { return now },
		// Keep the audit trail, payloads and responses for 30 days. A
		// running worker purges every PurgeInterval by itself.
		Retention: 30 * 24 * time.Hour,
	})
	if err != nil {
		panic(err)
	}
	defer d.Stop(context.Background())
	ep := delivery.Endpoint{ID: "ep_1", URL: srv.URL, Secrets: []string{delivery.NewSecret()}}
	ctx := context.Background()
	_, _ = d.Deliver(ctx, delivery.Event{ID: "evt_old", Type: "invoice.paid", Payload: []byte(`{}`)}, ep)
	now = now.Add(31 * 24 * time.Hour)
	_, _ = d.Deliver(ctx, delivery.Event{ID: "evt_new", Type: "invoice.paid", Payload: []byte(`{}`)}, ep)

	n, err := d.Purge(ctx)
	fmt.Println("purged", n, err)
	_, err = store.Event(ctx, "evt_old")
	fmt.Println(errors.Is(err, delivery.ErrNotFound))
	_, err = store.Event(ctx, "evt_new")
	fmt.Println(err)
	// Output:
	// purged 1 <nil>
	// true
	// <nil>
}

func ExampleDispatcher_Deliver_failure() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "try later", http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	d, err := delivery.NewDispatcher(memstore.New(), &delivery.Config{
		// The test receiver is on 127.0.0.1, which the default policy refuses.
		AddressPolicy: delivery.AllowNetworks(netip.MustParsePrefix("127.0.0.0/8")),
	})
	if err != nil {
		panic(err)
	}
	defer d.Stop(context.Background()) // closes its idle connections
	a, err := d.Deliver(context.Background(),
		delivery.Event{ID: "evt_2", Payload: []byte(`{}`)},
		delivery.Endpoint{ID: "ep_1", URL: srv.URL},
	)
	var failed *delivery.AttemptError
	if errors.As(err, &failed) {
		// The attempt is recorded; a retry is scheduled for the worker (see Start).
		fmt.Println(a.Status, failed.StatusCode, failed.Next != nil)
		fmt.Printf("%q\n", a.Response)
	}
	// Output:
	// failure 503 true
	// "try later\n"
}

func ExampleVerifier_Verify() {
	// The example of the Standard Webhooks specification.
	v, err := delivery.NewVerifier("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		panic(err)
	}
	v.Now = func() time.Time { return time.Unix(1614265330, 0) } // the example's send time

	header := http.Header{}
	header.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	header.Set("webhook-timestamp", "1614265330")
	header.Set("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	fmt.Println(v.Verify(header, []byte(`{"test": 2432232314}`)))
	fmt.Println(v.Verify(header, []byte(`{"test": 1}`)))
	// Output:
	// <nil>
	// delivery: no matching webhook signature
}

// A receiving service checks each request before it trusts the body.
func ExampleVerifier_handler() {
	secret := delivery.NewSecret()
	// receive is the handler that README.md shows: Verifier.Middleware in
	// front of the host's handler.
	handler, err := receive(secret)
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(handler)
	defer srv.Close()

	d, err := delivery.NewDispatcher(memstore.New(), &delivery.Config{
		// The test receiver is on 127.0.0.1, which the default policy refuses.
		AddressPolicy: delivery.AllowNetworks(netip.MustParsePrefix("127.0.0.0/8")),
	})
	if err != nil {
		panic(err)
	}
	defer d.Stop(context.Background()) // closes its idle connections
	ev := delivery.Event{ID: "evt_3", Payload: []byte(`{}`)}
	signed, _ := d.Deliver(context.Background(), ev, delivery.Endpoint{ID: "ep_1", URL: srv.URL, Secrets: []string{secret}})
	// One event goes to one endpoint once: the forger is another endpoint.
	forged, _ := d.Deliver(context.Background(), ev, delivery.Endpoint{ID: "ep_forger", URL: srv.URL, Secrets: []string{delivery.NewSecret()}})
	fmt.Println(signed.ResponseStatusCode, forged.ResponseStatusCode)
	// Output: 204 401
}
