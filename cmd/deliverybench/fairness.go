package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/webhookkit/delivery"
	"github.com/webhookkit/delivery/memstore"
)

// The fairness scenario: a dead endpoint and a slow one, each with a
// backlog, next to healthy endpoints that receive a steady flow of events.
const (
	fairBacklog   = 10000                  // due attempts of the dead and of the slow endpoint
	fairHealthy   = 50                     // healthy endpoints
	fairRate      = 20                     // new events a second to each healthy endpoint
	fairSlow      = 200 * time.Millisecond // the slow endpoint's answer
	fairTimeout   = 2 * time.Second        // Config.Timeout: the dead endpoint hangs past it
	fairPoll      = 100 * time.Millisecond // Config.PollInterval of the worker processes
	fairWorkers   = 16
	fairPerEnd    = 4
	fairProcesses = 3
)

// fairReceiver is the scenario's receiver: /dead hangs until the client
// gives up, /slow answers after fairSlow, /ok_N at once; it notes each
// healthy delivery's latency from enqueue (the payload holds the enqueue
// time), the most requests open at once per endpoint, and when each
// request to the dead endpoint came.
type fairReceiver struct {
	mu        sync.Mutex
	open      map[string]int
	most      map[string]int
	latencies []time.Duration
	dead      []time.Time
	requests  atomic.Int64
}

func (f *fairReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	ep := strings.TrimPrefix(r.URL.Path, "/")
	now := time.Now()
	f.requests.Add(1)
	f.mu.Lock()
	f.open[ep]++
	f.most[ep] = max(f.most[ep], f.open[ep])
	if ep == "dead" {
		f.dead = append(f.dead, now)
	}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.open[ep]--
		f.mu.Unlock()
	}()
	switch {
	case ep == "dead":
		<-r.Context().Done()
		return
	case ep == "slow":
		time.Sleep(fairSlow)
	default:
		if sent, err := strconv.ParseInt(string(body), 10, 64); err == nil {
			f.mu.Lock()
			f.latencies = append(f.latencies, now.Sub(time.Unix(0, sent)))
			f.mu.Unlock()
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// fairConfig is the worker configuration of the scenario.
func fairConfig(base string) *delivery.Config {
	return &delivery.Config{
		HTTPClient:     &http.Client{Transport: delivery.NewTransport(loopback)},
		Timeout:        fairTimeout,
		Workers:        fairWorkers,
		PerEndpoint:    fairPerEnd,
		PollInterval:   fairPoll,
		LookupEndpoint: lookupAt(base),
	}
}

// runFairness runs the scenario for dur on memstore and SQLite (one
// process each), and PostgreSQL and MariaDB (three worker processes each)
// when their DSNs are set.
func runFairness(dur time.Duration, pgDSN, myDSN, only string) error {
	dir, err := os.MkdirTemp("", "deliverybench-fair")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	type fairRun struct {
		name, driver, dsn string
	}
	runs := []fairRun{{"memstore", "", ""}, {"sqlite", "sqlite", filepath.Join(dir, "fair.db")}}
	if pgDSN != "" {
		runs = append(runs, fairRun{"postgres", "pgx", pgDSN})
	}
	if myDSN != "" {
		runs = append(runs, fairRun{"mariadb", "mysql", myDSN})
	}
	fmt.Printf("Fairness: a dead endpoint (hangs past the %v timeout) and a slow one (%v), %d due attempts each, next to %d healthy\n",
		fairTimeout, fairSlow, fairBacklog, fairHealthy)
	fmt.Printf("endpoints receiving %d events a second each, for %v; %d workers a process, PerEndpoint %d, default breaker\n\n",
		fairRate, dur, fairWorkers, fairPerEnd)
	fmt.Printf("%-10s %5s %10s %10s %10s %10s %8s %12s %9s\n", "store", "procs", "healthy", "p50", "p99", "max open", "dead", "after open", "per sec")
	for _, r := range runs {
		if only != "" && !slices.Contains(strings.Split(only, ","), r.name) {
			continue
		}
		if err := fairness(r.name, r.driver, r.dsn, dur); err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
	}
	return nil
}

// fairness runs the scenario on one store and prints its row.
func fairness(name, driver, dsn string, dur time.Duration) error {
	ctx := context.Background()
	recv := &fairReceiver{open: map[string]int{}, most: map[string]int{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: recv, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	base := "http://" + l.Addr().String()

	var store delivery.Store
	prefix := fmt.Sprintf("fair%d_", time.Now().UnixNano()%1e9)
	procs := 1
	switch driver {
	case "":
		store = memstore.New()
	default:
		db, err := openDB(driver, dsn)
		if err != nil {
			return err
		}
		st, done, err := migrated(db, prefix, driver != "sqlite")
		if err != nil {
			return err
		}
		defer done()
		store = st
		if driver != "sqlite" {
			procs = fairProcesses
		}
	}
	d, err := delivery.NewDispatcher(store, fairConfig(base))
	if err != nil {
		return err
	}
	if err := fillFairBacklog(ctx, d, base); err != nil {
		return err
	}
	start := time.Now()
	stop, err := startFairWorkers(ctx, d, driver, dsn, prefix, base, procs)
	if err != nil {
		return err
	}
	opened := watchBreaker(store, "dead")
	sent := produce(ctx, d, base, dur)
	elapsed := time.Since(start)
	if err := stop(); err != nil {
		return err
	}
	openedAt := opened()

	recv.mu.Lock()
	defer recv.mu.Unlock()
	lat := slices.Clone(recv.latencies)
	slices.Sort(lat)
	// The dead endpoint is left out: the receiver still holds a request
	// that timed out until it notices the client gone, while the worker
	// has already sent the next.
	most := 0
	for ep, n := range recv.most {
		if ep != "dead" {
			most = max(most, n)
		}
	}
	afterOpen := "never"
	if !openedAt.IsZero() {
		n := 0
		for _, at := range recv.dead {
			if at.After(openedAt) {
				n++
			}
		}
		afterOpen = fmt.Sprintf("%d in %.0fs", n, time.Since(openedAt).Seconds())
	}
	p50, p99 := "-", "-"
	if len(lat) > 0 {
		p50, p99 = pct(lat, 50).Round(time.Millisecond).String(), pct(lat, 99).Round(time.Millisecond).String()
	}
	fmt.Printf("%-10s %5d %4d/%-5d %10s %10s %10d %8d %12s %9.0f\n", name, procs, len(lat), sent, p50, p99, most,
		len(recv.dead), afterOpen, float64(recv.requests.Load())/elapsed.Seconds())
	return nil
}

// fillFairBacklog enqueues the dead and the slow endpoint's backlogs.
func fillFairBacklog(ctx context.Context, d *delivery.Dispatcher, base string) error {
	var wg sync.WaitGroup
	errs := make(chan error, 2*8)
	for _, ep := range []string{"dead", "slow"} {
		for g := range 8 {
			wg.Go(func() {
				for i := g; i < fairBacklog; i += 8 {
					ev := delivery.Event{ID: fmt.Sprintf("%s_%d", ep, i), Payload: []byte("0")}
					if _, err := d.Enqueue(ctx, ev, delivery.Endpoint{ID: ep, URL: base + "/" + ep}, nil); err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// produce enqueues fairRate events a second to each healthy endpoint for
// dur, or as many as the store takes, each payload the enqueue time in
// Unix nanoseconds, and returns how many it enqueued.
func produce(ctx context.Context, d *delivery.Dispatcher, base string, dur time.Duration) int {
	tick := time.NewTicker(time.Second / fairRate)
	defer tick.Stop()
	deadline := time.Now().Add(dur)
	sent := 0
	var failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	// At most 64 enqueues at once: a store that cannot keep up falls
	// behind the rate instead of running out of connections.
	slots := make(chan struct{}, 64)
	for n := 0; time.Now().Before(deadline); n++ {
		<-tick.C
		for e := range fairHealthy {
			ep := delivery.Endpoint{ID: fmt.Sprintf("ok_%d", e), URL: fmt.Sprintf("%s/ok_%d", base, e)}
			ev := delivery.Event{ID: fmt.Sprintf("ok_%d_%d", e, n), Payload: []byte(strconv.FormatInt(time.Now().UnixNano(), 10))}
			sent++
			slots <- struct{}{}
			wg.Go(func() {
				defer func() { <-slots }()
				if _, err := d.Enqueue(ctx, ev, ep, nil); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			})
		}
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		fmt.Fprintf(os.Stderr, "%d enqueues failed, the first with: %v\n", n, firstErr.Load())
	}
	return sent
}

// watchBreaker polls the store's health of endpoint, if it keeps any, and
// returns what reports when the breaker first opened (zero if never).
func watchBreaker(store delivery.Store, endpoint string) func() time.Time {
	hs, ok := store.(delivery.HealthStore)
	done := make(chan struct{})
	var at time.Time
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for ok && at.IsZero() {
			if h, err := hs.Health(context.Background(), endpoint); err == nil && h.Cooldown > 0 {
				at = time.Now()
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() time.Time {
		close(done)
		<-finished
		return at
	}
}

// startFairWorkers starts the scenario's workers: d's own in one process,
// or procs worker processes, and returns what stops them.
func startFairWorkers(ctx context.Context, d *delivery.Dispatcher, driver, dsn, prefix, base string, procs int) (func() error, error) {
	if driver == "" || driver == "sqlite" {
		if err := d.Start(ctx); err != nil {
			return nil, err
		}
		return func() error {
			stopCtx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			_ = d.Stop(stopCtx) // the dead endpoint's requests are aborted
			return nil
		}, nil
	}
	var stops []func() error
	for range procs {
		stop, err := startReady("-fairness-worker", "-driver", driver, "-dsn", dsn, "-prefix", prefix, base)
		if err != nil {
			return nil, err
		}
		stops = append(stops, stop)
	}
	return func() error {
		var errs []error
		for _, stop := range stops {
			errs = append(errs, stop())
		}
		return errors.Join(errs...)
	}, nil
}

// fairnessWorker is a worker process of the scenario: it prints "ready"
// once its worker runs, and stops when stdin closes.
func fairnessWorker(driver, dsn, prefix, base string) error {
	db, s, err := openStore(driver, dsn, prefix)
	if err != nil {
		return err
	}
	defer func(db *sql.DB) { _ = db.Close() }(db)
	d, err := delivery.NewDispatcher(s, fairConfig(base))
	if err != nil {
		return err
	}
	ctx := context.Background()
	if err := d.Start(ctx); err != nil {
		return err
	}
	fmt.Println("ready")
	_, _ = bufio.NewReader(os.Stdin).ReadString(0)
	stopCtx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_ = d.Stop(stopCtx) // the dead endpoint's requests are aborted
	return nil
}
