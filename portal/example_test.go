package portal_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"

	"github.com/webhookkit/delivery"
	"github.com/webhookkit/delivery/memstore"
	"github.com/webhookkit/delivery/portal"
)

// A customer's view of its deliveries, mounted under /webhooks/ and read
// through the JSON API: the attempts of its endpoint, newest first. The
// same handler serves the HTML pages at /webhooks/, /webhooks/attempts
// and so on.
func ExampleNew() {
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	defer receiver.Close()
	store := memstore.New()
	d, err := delivery.NewDispatcher(store, &delivery.Config{
		AddressPolicy: delivery.AllowNetworks(netip.MustParsePrefix("127.0.0.0/8")),
	})
	if err != nil {
		panic(err)
	}
	ep := delivery.Endpoint{ID: "ep_42", URL: receiver.URL + "/hooks"}
	for _, id := range []string{"evt_1", "evt_2"} {
		ev := delivery.Event{ID: id, Type: "invoice.paid", Payload: []byte(`{"invoice":7}`)}
		if _, err := d.Deliver(context.Background(), ev, ep); err != nil {
			panic(err)
		}
	}

	h, err := portal.New(portal.Config{
		Store:      store,
		Dispatcher: d,
		// A real host reads the caller's endpoints from its session.
		Scope:    func(*http.Request) ([]string, error) { return []string{"ep_42"}, nil },
		ReadOnly: true,
	})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/webhooks/", http.StripPrefix("/webhooks", h))

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/webhooks/api/attempts?type=invoice.paid", nil))
	var page struct {
		Attempts []delivery.Attempt `json:"attempts"`
		Next     string             `json:"next"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
		panic(err)
	}
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	for _, a := range page.Attempts {
		fmt.Println(a.EventID, a.EndpointID, a.Status, a.ResponseStatusCode, a.Response)
	}
	// Output:
	// 200 application/json
	// evt_2 ep_42 success 200 {"ok":true}
	// evt_1 ep_42 success 200 {"ok":true}
}
