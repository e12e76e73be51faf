// Command worker is the delivery worker that the crash and multi-process
// tests of sqlstore run as a real OS process, and kill.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
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
	flag.Parse()
	if err := run(*driver, *dsn, *prefix, *receiver, *exitWhenIdle); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run(driver, dsn, prefix, receiver string, exitWhenIdle bool) error {
	var db *sql.DB
	var err error
	if driver == "sqlite" {
		db, err = sqlstore.OpenSQLite(dsn)
	} else {
		db, err = sql.Open(driver, dsn)
	}
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxIdleConns(32) // at least the workers, or each attempt opens a connection
	store, err := sqlstore.New(db, &sqlstore.Config{TablePrefix: prefix})
	if err != nil {
		return err
	}
	d, err := delivery.NewDispatcher(store, &delivery.Config{
		Timeout:       2 * time.Second,
		AddressPolicy: delivery.AllowNetworks(netip.MustParsePrefix("127.0.0.0/8")),
		Lease:         3 * time.Second,
		PollInterval:  20 * time.Millisecond,
		Workers:       16,
		PerEndpoint:   16,
		Endpoints: func(_ context.Context, id string) (delivery.Endpoint, error) {
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
