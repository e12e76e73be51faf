// Command portal serves the delivery portal over demo deliveries: a day of
// webhooks to three endpoints of two customers, kept in SQLite. It prints
// the two addresses to open: one customer's view, and the operator's view
// of every endpoint.
//
//	go run ./examples/portal
//
// The attempts go to a fresh SQLite file in a temporary directory, removed
// on exit, unless -sqlite names one to keep. -smoke starts everything,
// fetches each page once, and exits: CI runs it so.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite"

	"github.com/webhookkit/delivery"
	"github.com/webhookkit/delivery/portal"
	"github.com/webhookkit/delivery/sqlstore"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "the address to serve the portal on")
	sqlitePath := flag.String("sqlite", "", "the SQLite file to keep the attempts in (default: a temporary one)")
	smoke := flag.Bool("smoke", false, "fetch each page once, then exit")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *addr, *sqlitePath, *smoke, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// The demo's customers and their endpoints.
var (
	acme  = []string{"acme-orders", "acme-billing"}
	every = []string{"acme-orders", "acme-billing", "globex-crm"}
)

func run(ctx context.Context, addr, sqlitePath string, smoke bool, out io.Writer) error {
	if sqlitePath == "" {
		dir, err := os.MkdirTemp("", "delivery-portal-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		sqlitePath = filepath.Join(dir, "portal.db")
	}
	db, err := sqlstore.OpenSQLite(sqlitePath)
	if err != nil {
		return err
	}
	defer db.Close()
	demo, err := newDemo(ctx, db)
	if err != nil {
		return err
	}
	defer demo.close()
	fmt.Fprintln(out, "Delivering a day of demo webhooks...")
	if err := demo.seed(ctx); err != nil {
		return err
	}
	if err := demo.d.Start(ctx); err != nil {
		return err
	}
	defer func() { _ = demo.d.Stop(context.Background()) }()

	mux, err := demo.mux()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(out, "\nAcme's view of its two endpoints:   %s/acme/\n", base)
	fmt.Fprintf(out, "The operator's view of every one:   %s/ops/\n", base)
	if smoke {
		return fetchAll(ctx, base, out)
	}
	fmt.Fprintln(out, "\nPress Ctrl-C to stop.")
	<-ctx.Done()
	return nil
}

// demo is the demo's store, receiver and Dispatcher.
type demo struct {
	store    *sqlstore.Store
	d        *delivery.Dispatcher
	receiver *httptest.Server
	// clock is the Dispatcher's time: a day ago and on while seeding,
	// then the real time (0).
	clock atomic.Int64
}

func newDemo(ctx context.Context, db *sql.DB) (*demo, error) {
	store, err := sqlstore.New(db, nil)
	if err != nil {
		return nil, err
	}
	if err := store.Migrate(ctx); err != nil {
		return nil, err
	}
	dm := &demo{store: store}
	// acme-orders answers 200; acme-billing fails one time in four;
	// globex-crm is down, and answers with an HTML error page.
	rng := rand.New(rand.NewPCG(1, 2)) // #nosec G404 -- a demo's outcomes, not a secret
	var rngMu sync.Mutex               // the worker's retries arrive on connections of their own
	fails := func() bool {
		rngMu.Lock()
		defer rngMu.Unlock()
		return rng.IntN(4) == 0
	}
	dm.receiver = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/globex-crm"):
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "<html><body><h1>503 Service Unavailable</h1><script>alert('not run')</script></body></html>")
		case strings.HasSuffix(r.URL.Path, "/acme-billing") && fails():
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, `{"error":"ledger locked","retry":true}`)
		default:
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"received":true}`)
		}
	}))
	dm.d, err = delivery.NewDispatcher(store, &delivery.Config{
		// The demo receiver is on 127.0.0.1, which the default address
		// policy refuses.
		AddressPolicy:  delivery.AllowNetworks(netip.MustParsePrefix("127.0.0.0/8")),
		LookupEndpoint: dm.endpoint,
		Now:            dm.now,
	})
	if err != nil {
		dm.receiver.Close()
		return nil, err
	}
	return dm, nil
}

func (dm *demo) close() { dm.receiver.Close() }

// now is the Dispatcher's clock.
func (dm *demo) now() time.Time {
	if t := dm.clock.Load(); t != 0 {
		return time.Unix(0, t)
	}
	return time.Now()
}

// endpoint looks up the demo's endpoints.
func (dm *demo) endpoint(_ context.Context, id string) (delivery.Endpoint, error) {
	for _, e := range every {
		if e == id {
			return delivery.Endpoint{ID: id, URL: dm.receiver.URL + "/hooks/" + id, Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}, nil
		}
	}
	return delivery.Endpoint{}, delivery.ErrEndpointGone
}

// seed delivers a day of events, one every 15 minutes or so to each
// endpoint, with the Dispatcher's clock set back to when each was sent.
// A store that holds attempts already is left as it is.
func (dm *demo) seed(ctx context.Context) error {
	page, err := dm.store.List(ctx, delivery.ListQuery{Limit: 1})
	if err != nil || len(page.Attempts) > 0 {
		return err
	}
	start := time.Now().Add(-24 * time.Hour)
	types := []string{"order.created", "order.paid", "invoice.sent"}
	for i := range 96 {
		dm.clock.Store(start.Add(time.Duration(i) * 15 * time.Minute).UnixNano())
		for j, id := range every {
			ep, err := dm.endpoint(ctx, id)
			if err != nil {
				return err
			}
			ev := delivery.Event{ID: fmt.Sprintf("evt_%s_%03d", id, i), Type: types[(i+j)%len(types)],
				Payload: fmt.Appendf(nil, `{"id":%d,"customer":%q,"amount":%d,"currency":"EUR"}`, i, id, 1000+37*i)}
			_, err = dm.d.Deliver(ctx, ev, ep)
			var failed *delivery.AttemptError
			if err != nil && !errors.As(err, &failed) {
				return err
			}
		}
	}
	dm.clock.Store(0)
	return nil
}

// mux serves the portal twice: scoped to Acme's endpoints under /acme/,
// and to every endpoint under /ops/. A real host puts its own login in
// front and takes the scope from the session.
func (dm *demo) mux() (*http.ServeMux, error) {
	mux := http.NewServeMux()
	for _, view := range []struct {
		path, title string
		scope       []string
	}{{"/acme", "Acme · webhook deliveries", acme}, {"/ops", "Operator · webhook deliveries", every}} {
		h, err := portal.New(portal.Config{
			Store:      dm.store,
			Dispatcher: dm.d,
			Title:      view.title,
			Scope:      func(*http.Request) ([]string, error) { return view.scope, nil },
		})
		if err != nil {
			return nil, err
		}
		mux.Handle(view.path+"/", http.StripPrefix(view.path, h))
	}
	mux.Handle("/{$}", http.RedirectHandler("/acme/", http.StatusFound))
	return mux, nil
}

// fetchAll fetches each page once and fails on any answer but 200.
func fetchAll(ctx context.Context, base string, out io.Writer) error {
	for _, path := range []string{"/acme/", "/acme/attempts", "/acme/attempts?status=failure", "/ops/", "/ops/api/endpoints", "/acme/events/evt_acme-orders_001"} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return err
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", path, res.Status)
		}
		fmt.Fprintf(out, "GET %s: %s\n", path, res.Status)
	}
	return nil
}
