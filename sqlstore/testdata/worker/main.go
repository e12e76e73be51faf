// Command worker is the delivery worker that the crash and multi-process
// tests of sqlstore run as a real OS process, and kill.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	_ "modernc.org/sqlite"

	"github.com/webhookkit/delivery"
	"github.com/webhookkit/delivery/sqlstore"
)

func main() {
	driver := flag.String("driver", "sqlite", "sqlite, pgx or mysql")
	dsn := flag.String("dsn", "", "the database; for sqlite, a file path")
	prefix := flag.String("prefix", sqlstore.DefaultTablePrefix, "the table prefix")
	receiver := flag.String("receiver", "", "the receiver's base URL; endpoint ep_X is at /ep_X")
	exitWhenIdle := flag.Bool("exit-when-idle", false, "stop and exit once no attempt is pending")
	perEndpoint := flag.Int("per-endpoint", 16, "Config.PerEndpoint")
	spans := flag.Bool("spans", false, "record the worker's spans and print them, one JSON object a line, on exit")
	enqueue := flag.Int("enqueue", 0, "instead of working, enqueue events evt_00000 to this number less one, to endpoints ep_0 to ep_9, "+
		"and print how many were stored and how many were duplicates")
	flag.Parse()
	var err error
	if *enqueue > 0 {
		err = enqueueAll(*driver, *dsn, *prefix, *enqueue)
	} else {
		err = run(*driver, *dsn, *prefix, *receiver, *exitWhenIdle, *perEndpoint, *spans)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

// open opens the database and the Store on it.
func open(driver, dsn, prefix string) (*sql.DB, *sqlstore.Store, error) {
	var db *sql.DB
	var err error
	if driver == "sqlite" {
		db, err = sqlstore.OpenSQLite(dsn)
	} else {
		db, err = sql.Open(driver, dsn)
	}
	if err != nil {
		return nil, nil, err
	}
	db.SetMaxIdleConns(32) // at least the workers, or each attempt opens a connection
	store, err := sqlstore.New(db, &sqlstore.Config{TablePrefix: prefix})
	if err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	return db, store, nil
}

// enqueueAll enqueues n events from 8 goroutines, each event once, and
// prints "stored N duplicates M".
func enqueueAll(driver, dsn, prefix string, n int) error {
	db, store, err := open(driver, dsn, prefix)
	if err != nil {
		return err
	}
	defer db.Close()
	d, err := delivery.NewDispatcher(store, nil)
	if err != nil {
		return err
	}
	var stored, duplicates atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := g; i < n; i += 8 {
				ep := fmt.Sprintf("ep_%d", i%10)
				_, err := d.Enqueue(context.Background(), delivery.Event{ID: fmt.Sprintf("evt_%05d", i), Payload: []byte(`{}`)},
					delivery.Endpoint{ID: ep, URL: "http://127.0.0.1/" + ep}, nil)
				switch {
				case err == nil:
					stored.Add(1)
				case errors.Is(err, delivery.ErrDuplicate):
					duplicates.Add(1)
				default:
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	fmt.Printf("stored %d duplicates %d\n", stored.Load(), duplicates.Load())
	return nil
}

// Span is what the worker prints of each span it recorded.
type Span struct {
	Name         string            `json:"name"`
	TraceID      string            `json:"trace_id"`
	SpanID       string            `json:"span_id"`
	ParentSpanID string            `json:"parent_span_id"`
	ParentRemote bool              `json:"parent_remote"`
	Attributes   map[string]string `json:"attributes"`
}

// printSpans prints the spans of exporter, one JSON object a line.
func printSpans(exporter *tracetest.InMemoryExporter) error {
	enc := json.NewEncoder(os.Stdout)
	for _, s := range exporter.GetSpans() {
		attrs := map[string]string{}
		for _, kv := range s.Attributes {
			attrs[string(kv.Key)] = kv.Value.String()
		}
		if err := enc.Encode(Span{Name: s.Name, TraceID: s.SpanContext.TraceID().String(), SpanID: s.SpanContext.SpanID().String(),
			ParentSpanID: s.Parent.SpanID().String(), ParentRemote: s.Parent.IsRemote(), Attributes: attrs}); err != nil {
			return err
		}
	}
	return nil
}

func run(driver, dsn, prefix, receiver string, exitWhenIdle bool, perEndpoint int, spans bool) (err error) {
	db, store, err := open(driver, dsn, prefix)
	if err != nil {
		return err
	}
	defer db.Close()
	var telemetry delivery.Telemetry
	if spans {
		exporter := tracetest.NewInMemoryExporter()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
		telemetry.TracerProvider = tp
		defer func() {
			if err == nil {
				err = printSpans(exporter)
			}
		}()
	}
	d, err := delivery.NewDispatcher(store, &delivery.Config{
		Telemetry:     telemetry,
		Timeout:       2 * time.Second,
		AddressPolicy: delivery.AllowNetworks(netip.MustParsePrefix("127.0.0.0/8")),
		Lease:         3 * time.Second,
		PollInterval:  20 * time.Millisecond,
		Workers:       16,
		PerEndpoint:   perEndpoint,
		LookupEndpoint: func(_ context.Context, id string) (delivery.Endpoint, error) {
			return delivery.Endpoint{ID: id, URL: receiver + "/" + id}, nil
		},
		// Retry at once, up to 50 times: the tests are about losing
		// nothing, not about waiting.
		Retry: func(a delivery.Attempt, _ error) (time.Duration, error) {
			if a.AttemptNumber >= 50 {
				return 0, delivery.ErrRetriesExhausted
			}
			return 0, nil
		},
	})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := d.Start(ctx); err != nil {
		return err
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return d.Stop(context.Background())
		case <-tick.C:
		}
		if !exitWhenIdle {
			continue
		}
		page, err := store.List(ctx, delivery.ListQuery{Statuses: []delivery.Status{delivery.StatusPending}, Limit: 1})
		if err != nil {
			return err
		}
		if len(page.Attempts) == 0 {
			return d.Stop(context.Background())
		}
	}
}
