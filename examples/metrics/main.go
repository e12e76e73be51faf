// Command metrics shows the library's OpenTelemetry metrics as Prometheus
// scrapes them. It wires the Prometheus exporter into a MeterProvider,
// installs it as the global one (a Dispatcher reports to the global
// provider unless its Config names another), runs a worker on an SQLite
// file in a temporary directory, delivers twenty events to a local
// receiver that accepts them and ten to one that is down, and prints the
// library's series from the /metrics page.
//
//	go run ./examples/metrics
//
// With -listen, it keeps serving the page, for curl or a Prometheus
// server:
//
//	go run ./examples/metrics -listen 127.0.0.1:9464
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	_ "modernc.org/sqlite"

	"github.com/webhookkit/delivery"
	"github.com/webhookkit/delivery/sqlstore"
)

func main() {
	listen := flag.String("listen", "", "keep serving /metrics at this address after the deliveries")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *listen); err != nil {
		log.Fatal(err)
	}
}

// run delivers the demo events and prints the library's series from the
// /metrics page; with listen set, it then serves the page until the
// process is stopped.
func run(ctx context.Context, out io.Writer, listen string) error {
	// The host's OpenTelemetry setup: a registry of its own, the
	// exporter, and a global MeterProvider.
	registry := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(registry), otelprom.WithoutScopeInfo())
	if err != nil {
		return err
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	defer func() { _ = provider.Shutdown(context.WithoutCancel(ctx)) }()
	otel.SetMeterProvider(provider)

	dir, err := os.MkdirTemp("", "metrics-example")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	db, err := sqlstore.OpenSQLite(filepath.Join(dir, "metrics.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	store, err := sqlstore.New(db, nil)
	if err != nil {
		return err
	}
	if err := store.Migrate(ctx); err != nil {
		return err
	}

	up := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer up.Close()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer down.Close()
	endpoints := map[string]delivery.Endpoint{
		"ep_up":   {ID: "ep_up", URL: up.URL},
		"ep_down": {ID: "ep_down", URL: down.URL},
	}
	d, err := delivery.NewDispatcher(store, &delivery.Config{
		// The receivers are on loopback, which the default policy refuses.
		AddressPolicy: delivery.AllowNetworks(netip.MustParsePrefix("127.0.0.0/8")),
		LookupEndpoint: func(_ context.Context, id string) (delivery.Endpoint, error) {
			return endpoints[id], nil
		},
		// Retry the failures an hour later: this demo shows them pending.
		Retry: func(delivery.Attempt, error) (time.Duration, error) { return time.Hour, nil },
	})
	if err != nil {
		return err
	}
	if err := d.Start(ctx); err != nil {
		return err
	}
	defer func() { _ = d.Stop(context.WithoutCancel(ctx)) }()
	for i := range 30 {
		ep := endpoints["ep_up"]
		if i%3 == 2 {
			ep = endpoints["ep_down"]
		}
		ev := delivery.Event{ID: fmt.Sprintf("evt_%02d", i), Type: "invoice.paid", Payload: []byte(`{"invoice":1}`)}
		if _, err := d.Enqueue(ctx, ev, ep, nil); err != nil && !errors.Is(err, delivery.ErrDuplicate) {
			return err
		}
	}
	if err := waitForFirstTries(ctx, store, 30); err != nil {
		return err
	}

	handler := promhttp.HandlerFor(registry, promhttp.HandlerOpts{})
	page := httptest.NewServer(handler)
	defer page.Close()
	if err := printSeries(ctx, page.URL, out); err != nil {
		return err
	}
	if listen == "" {
		return nil
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nserving http://%s/metrics; stop with Ctrl-C\n", ln.Addr())
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(ln)
}

// waitForFirstTries waits until n attempts are final.
func waitForFirstTries(ctx context.Context, store delivery.Store, n int) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		page, err := store.List(ctx, delivery.ListQuery{
			Statuses: []delivery.Status{delivery.StatusSuccess, delivery.StatusFailure}, Limit: n,
		})
		if err != nil {
			return err
		}
		if len(page.Attempts) == n {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("the deliveries did not finish within a minute")
}

// printSeries prints the library's series from the /metrics page at url.
func printSeries(ctx context.Context, url string, out io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		line := lines.Text()
		name := strings.TrimPrefix(strings.TrimPrefix(line, "# HELP "), "# TYPE ")
		if strings.HasPrefix(name, "delivery_") || strings.HasPrefix(name, "http_client_") {
			fmt.Fprintln(out, line)
		}
	}
	return lines.Err()
}
