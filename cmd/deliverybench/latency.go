package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/webhookkit/delivery"
	"github.com/webhookkit/delivery/sqlstore"
	"github.com/webhookkit/delivery/sqlstore/pgnotify"
)

// latencyPace is how often the latency scenario commits an enqueue: slow
// enough that no backlog forms, so that each figure is one wake-up.
const latencyPace = 20 * time.Millisecond

// runLatency measures commit-to-send latency on PostgreSQL: the time from
// the commit of an EnqueueTx transaction to the receiver getting the
// webhook, with the worker in another process, once waking by polling
// (the default 500 ms PollInterval) and once by notification (pgnotify).
func runLatency(pgDSN string, n int) error {
	if pgDSN == "" {
		return errors.New("-latency needs -postgres")
	}
	var mu sync.Mutex
	arrived := map[string]time.Time{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		mu.Lock()
		arrived[r.Header.Get(delivery.HeaderID)] = now
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	base := "http://" + l.Addr().String()

	fmt.Printf("Commit-to-send latency on PostgreSQL: EnqueueTx, then a worker in another process; %d enqueues, one every %v\n\n", n, latencyPace)
	fmt.Printf("%-22s %10s %10s %10s\n", "wake-up", "p50", "p99", "max")
	for _, notify := range []bool{false, true} {
		db, err := openDB("pgx", pgDSN)
		if err != nil {
			return err
		}
		prefix := fmt.Sprintf("latency%d_", time.Now().UnixNano()%1e9)
		st, done, err := migrated(db, prefix, true)
		if err != nil {
			return err
		}
		lat, err := measureLatency(db, st.(*sqlstore.Store), pgDSN, base, n, notify, &mu, arrived)
		done()
		if err != nil {
			return err
		}
		name := "polling (500 ms)"
		if notify {
			name = "notification"
		}
		slices.Sort(lat)
		fmt.Printf("%-22s %10v %10v %10v\n", name, pct(lat, 50).Round(time.Microsecond), pct(lat, 99).Round(time.Microsecond),
			lat[len(lat)-1].Round(time.Microsecond))
	}
	return nil
}

// measureLatency runs one worker process and n enqueues, and returns each
// enqueue's commit-to-receipt time.
func measureLatency(db *sql.DB, s *sqlstore.Store, dsn, base string, n int, notify bool, mu *sync.Mutex, arrived map[string]time.Time) ([]time.Duration, error) {
	stop, err := startReady("-latency-worker", "-dsn", dsn, "-prefix", s.TablePrefix(), "-notify="+strconv.FormatBool(notify), base)
	if err != nil {
		return nil, err
	}
	defer func() { _ = stop() }()

	d, err := delivery.NewDispatcher(s, nil) // enqueues only; its own worker never runs
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	committed := make(map[string]time.Time, n)
	run := time.Now().UnixNano()
	for i := range n {
		id := fmt.Sprintf("evt_%d_%d", run, i)
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return nil, err
		}
		if _, err := d.EnqueueTx(ctx, tx, delivery.Event{ID: id, Payload: payload}, delivery.Endpoint{ID: "ep_1", URL: base + "/ep_1"}, nil); err != nil {
			_ = tx.Rollback()
			return nil, err
		}
		if err := tx.Commit(); err != nil {
			return nil, err
		}
		committed[id] = time.Now()
		time.Sleep(latencyPace)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		var lat []time.Duration
		for id, at := range committed {
			if got, ok := arrived[id]; ok {
				lat = append(lat, got.Sub(at))
			}
		}
		mu.Unlock()
		if len(lat) == n {
			return lat, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d of %d webhooks arrived within 30 s", len(lat), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pct returns the p-th percentile of sorted durations.
func pct(sorted []time.Duration, p int) time.Duration {
	return sorted[min(len(sorted)-1, len(sorted)*p/100)]
}

// latencyWorker is the worker process of the latency scenario: it runs a
// worker with the default poll interval, woken by notifications if notify,
// prints "ready" once it runs, and stops when stdin closes.
func latencyWorker(dsn, prefix, base string, notify bool) error {
	db, s, err := openStore("pgx", dsn, prefix)
	if err != nil {
		return err
	}
	defer db.Close()
	tr := delivery.NewTransport(loopback)
	defer tr.CloseIdleConnections()
	d, err := delivery.NewDispatcher(s, &delivery.Config{
		HTTPClient:     &http.Client{Transport: tr},
		LookupEndpoint: lookupAt(base),
	})
	if err != nil {
		return err
	}
	ctx := context.Background()
	if notify {
		l, err := pgnotify.Listen(ctx, dsn, s.NotifyChannel(), d.Wake)
		if err != nil {
			return err
		}
		defer l.Close()
	}
	if err := d.Start(ctx); err != nil {
		return err
	}
	fmt.Println("ready")
	_, _ = bufio.NewReader(os.Stdin).ReadString(0)
	return d.Stop(ctx)
}
