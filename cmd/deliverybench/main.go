// Command deliverybench measures what the audit trail costs: Deliver on
// each store against a bare HTTP POST, side by side in one run, and the
// worker draining a backlog.
//
//	go run ./cmd/deliverybench                       # memstore and SQLite
//	go run ./cmd/deliverybench -postgres "$DSN" -mysql "$DSN2" -backlog 100000
//
// The receiver runs in a separate OS process (this program, started with
// -receiver), on 127.0.0.1. Every figure is the median of -reps runs, and
// every throughput is also given as a ratio to the bare POST at the same
// concurrency, measured in the same run.
package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/webhookkit/delivery"
	"github.com/webhookkit/delivery/memstore"
	"github.com/webhookkit/delivery/sqlstore"
)

func main() {
	receiverMode := flag.Bool("receiver", false, "run as the receiver process: serve on 127.0.0.1 and print the address")
	drainMode := flag.Bool("drain-worker", false, "run as a drain worker process on -driver and -dsn until no attempt is pending")
	driver := flag.String("driver", "", "the drain worker's database driver")
	dsn := flag.String("dsn", "", "the drain worker's database")
	prefix := flag.String("prefix", "bench_", "table prefix for the drain worker")
	n := flag.Int("n", 2000, "deliveries per measurement")
	reps := flag.Int("reps", 3, "repetitions; the median is reported")
	concs := flag.String("c", "1,8,64", "concurrency levels")
	backlog := flag.Int("backlog", 20000, "deliveries in the drain backlog (0 skips the drain)")
	pg := flag.String("postgres", os.Getenv("DELIVERY_TEST_POSTGRES_DSN"), "PostgreSQL DSN (empty skips it)")
	my := flag.String("mysql", os.Getenv("DELIVERY_TEST_MYSQL_DSN"), "MySQL/MariaDB DSN (empty skips it)")
	claimSizes := flag.String("claims", "", "comma-separated backlog sizes at which to measure claims on -postgres, and the claim loop against raw SQL (empty skips it)")
	only := flag.String("stores", "", "comma-separated stores to measure (default: all that are configured)")
	cpuProfile := flag.String("cpuprofile", "", "write the sending process's CPU profile to this file")
	latency := flag.Int("latency", 0, "measure commit-to-send latency of this many EnqueueTx calls on -postgres, polling against notifications (0 skips it)")
	latencyMode := flag.Bool("latency-worker", false, "run as the latency scenario's worker process on -dsn and -prefix")
	notify := flag.Bool("notify", false, "the latency worker listens for notifications")
	fair := flag.Duration("fairness", 0, "run the fairness scenario for this long on each store (0 skips it)")
	fairMode := flag.Bool("fairness-worker", false, "run as a worker process of the fairness scenario on -driver, -dsn and -prefix")
	storageEvents := flag.Int("storage", 0, "report the bytes per attempt of this many events, fanned out to 10 endpoints, on each store (0 skips it)")
	purgeFinals := flag.Int("purge", 0, "on -postgres, drain -backlog deliveries alone and next to a purge of this many final attempts (0 skips it)")
	portalAttempts := flag.Int("portal", 0, "on -postgres, time the portal's pages over this many attempts, -reps renders each (0 skips it)")
	telemetry := flag.Bool("telemetry", false, "measure the sender's CPU per delivery with OpenTelemetry metrics and traces off and on, -n deliveries a run")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	var err error
	switch {
	case *receiverMode:
		err = serveReceiver()
	case *drainMode:
		err = drainWorker(*driver, *dsn, *prefix, flag.Arg(0))
	case *fairMode:
		err = fairnessWorker(*driver, *dsn, *prefix, flag.Arg(0))
	case *fair > 0:
		err = runFairness(*fair, *pg, *my, *only)
	case *latencyMode:
		err = latencyWorker(*dsn, *prefix, flag.Arg(0), *notify)
	case *latency > 0:
		err = runLatency(*pg, *latency)
	case *telemetry:
		err = runTelemetry(*n, *reps)
	case *portalAttempts > 0:
		err = runPortal(*pg, *portalAttempts, *reps)
	case *purgeFinals > 0:
		err = runPurge(*pg, *purgeFinals, *backlog)
	case *storageEvents > 0:
		err = runStorage(*storageEvents, *pg, *my, *only)
	case *claimSizes != "":
		err = runClaims(*pg, *claimSizes)
	default:
		err = run(*n, *reps, *concs, *backlog, *pg, *my, *only)
	}
	if err != nil {
		pprof.StopCPUProfile()
		log.Fatal(err)
	}
}

// serveReceiver accepts every webhook with 204 until stdin closes.
func serveReceiver() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(l.Addr().String())
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		_ = srv.Close()
	}()
	if err := srv.Serve(l); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// startReady runs this binary as a helper process with args, waits for
// its first line of output, "ready", and returns what stops it: closing
// its stdin, then waiting for it to exit.
func startReady(args ...string) (func() error, error) {
	// #nosec G204 G702 -- the program runs its own binary as a helper process, with the operator's flags.
	cmd := exec.Command(os.Args[0], args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop := func() error { _ = stdin.Close(); return cmd.Wait() }
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
		_ = stop()
		return nil, fmt.Errorf("%s did not start: %q %v", args[0], line, err)
	}
	return stop, nil
}

// startReceiver starts the receiver process and returns its base URL.
func startReceiver() (string, func(), error) {
	// #nosec G204 G702 -- the program runs its own binary as the receiver process.
	cmd := exec.Command(os.Args[0], "-receiver")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return "", nil, err
	}
	stop := func() { _ = stdin.Close(); _ = cmd.Wait() }
	return "http://" + strings.TrimSpace(addr), stop, nil
}

var loopback = delivery.AllowNetworks(netip.MustParsePrefix("127.0.0.0/8"))

var payload = bytes.Repeat([]byte("x"), 1024)

// result is one measurement.
type result struct {
	perSec           float64
	p50, p99         time.Duration
	allocs, bytesPer float64
	// cpu is the sending process's CPU time (user and system) per call:
	// steadier than throughput on a shared machine.
	cpu time.Duration
}

// processCPU returns the CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure runs n calls of op over c goroutines.
func measure(n, c int, op func(i int) error) (result, error) {
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var firstErr atomic.Value
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	cpuBefore := processCPU()
	start := time.Now()
	var wg sync.WaitGroup
	for range c {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t0 := time.Now()
				if err := op(i); err != nil {
					firstErr.CompareAndSwap(nil, err)
				}
				lat[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := processCPU() - cpuBefore
	runtime.ReadMemStats(&after)
	if err, _ := firstErr.Load().(error); err != nil {
		return result{}, err
	}
	slices.Sort(lat)
	return result{
		perSec:   float64(n) / elapsed.Seconds(),
		p50:      lat[n/2],
		p99:      lat[n*99/100],
		allocs:   float64(after.Mallocs-before.Mallocs) / float64(n),
		bytesPer: float64(after.TotalAlloc-before.TotalAlloc) / float64(n),
		cpu:      cpu / time.Duration(n),
	}, nil
}

// median returns the run with the median throughput.
func median(rs []result) result {
	slices.SortFunc(rs, func(a, b result) int {
		switch {
		case a.perSec < b.perSec:
			return -1
		case a.perSec > b.perSec:
			return 1
		}
		return 0
	})
	return rs[len(rs)/2]
}

type scenario struct {
	name  string
	store func() (delivery.Store, func(), error)
	// settle, if set, runs on a store after its warm-up: on PostgreSQL it
	// analyzes the tables, as autovacuum does within its first minute.
	settle func(delivery.Store) error
}

// embedded returns the scenarios of the stores that need no server:
// memstore, and SQLite in a new file in dir each time.
func embedded(dir string) []scenario {
	return []scenario{
		{name: "memstore", store: func() (delivery.Store, func(), error) { return memstore.New(), func() {}, nil }},
		{name: "sqlite", store: func() (delivery.Store, func(), error) {
			db, err := sqlstore.OpenSQLite(filepath.Join(dir, fmt.Sprintf("bench-%d.db", time.Now().UnixNano())))
			if err != nil {
				return nil, nil, err
			}
			return migrated(db, "bench_", false)
		}},
	}
}

func run(n, reps int, concs string, backlog int, pgDSN, myDSN, only string) error {
	base, stopReceiver, err := startReceiver()
	if err != nil {
		return err
	}
	defer stopReceiver()
	fmt.Printf("machine: %d cores, %s %s/%s\n", runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	dir, err := os.MkdirTemp("", "deliverybench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	scenarios := embedded(dir)
	for _, s := range []struct{ name, driver, dsn string }{{"postgres", "pgx", pgDSN}, {"mariadb", "mysql", myDSN}} {
		if s.dsn == "" {
			continue
		}
		sc := scenario{name: s.name, store: func() (delivery.Store, func(), error) {
			db, err := openDB(s.driver, s.dsn)
			if err != nil {
				return nil, nil, err
			}
			printVersion(s.name, db)
			return migrated(db, fmt.Sprintf("bench%d_", time.Now().UnixNano()%1e9), true)
		}}
		if s.driver == "pgx" {
			sc.settle = func(st delivery.Store) error { return analyze(s.dsn, st.(*sqlstore.Store)) }
		}
		scenarios = append(scenarios, sc)
	}

	if only != "" {
		scenarios = slices.DeleteFunc(scenarios, func(s scenario) bool { return !slices.Contains(strings.Split(only, ","), s.name) })
	}
	fmt.Printf("\nDeliver of a 1 KiB payload vs a bare keep-alive POST; median of %d runs of %d deliveries\n\n", reps, n)
	fmt.Printf("%-10s %4s %10s %7s %10s %10s %8s %9s %8s\n", "path", "c", "per sec", "ratio", "p50", "p99", "allocs", "bytes", "cpu")
	for _, cs := range strings.Split(concs, ",") {
		c, err := strconv.Atoi(cs)
		if err != nil {
			return err
		}
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c, MaxIdleConns: c}}
		var rs []result
		for range reps {
			r, err := measure(n, c, func(int) error {
				resp, err := client.Post(base+"/bare", "application/json", bytes.NewReader(payload))
				if err != nil {
					return err
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				return resp.Body.Close()
			})
			if err != nil {
				return err
			}
			rs = append(rs, r)
		}
		client.CloseIdleConnections()
		baseline := median(rs)
		printRow("bare POST", c, baseline, baseline)
		signed, err := signedPost(base, n, reps, c)
		if err != nil {
			return err
		}
		printRow("signed", c, signed, baseline)
		for _, s := range scenarios {
			var rs []result
			for range reps {
				store, done, err := s.store()
				if err != nil {
					return err
				}
				tr := delivery.NewTransport(loopback)
				tr.MaxIdleConnsPerHost = c
				d, err := delivery.NewDispatcher(store, &delivery.Config{HTTPClient: &http.Client{Transport: tr}})
				if err != nil {
					return err
				}
				ep := delivery.Endpoint{ID: "ep_1", URL: base + "/" + s.name, Secrets: []string{secret}}
				deliver := func(prefix string) func(int) error {
					return func(i int) error {
						_, err := d.Deliver(context.Background(), delivery.Event{ID: prefix + strconv.Itoa(i), Type: "bench", Payload: payload}, ep)
						return err
					}
				}
				// A warm-up of n deliveries first, so that the measured ones
				// find the store as a running service has it.
				_, err = measure(n, c, deliver("warm_"))
				if err == nil && s.settle != nil {
					err = s.settle(store)
				}
				var r result
				if err == nil {
					r, err = measure(n, c, deliver("evt_"))
				}
				tr.CloseIdleConnections()
				done()
				if err != nil {
					return fmt.Errorf("%s: %w", s.name, err)
				}
				rs = append(rs, r)
			}
			printRow(s.name, c, median(rs), baseline)
		}
		fmt.Println()
	}
	if backlog > 0 {
		return drains(dir, base, backlog, pgDSN)
	}
	return nil
}

var secret = delivery.NewSecret()

// signedPost measures what Deliver sends without what it records: the
// POST signed as Deliver signs it, with its headers, on the guarded
// transport, bounded by a timeout. The gap between it and the bare POST is
// the price of the protocol; the gap between it and Deliver, that of the
// audit trail.
func signedPost(base string, n, reps, c int) (result, error) {
	tr := delivery.NewTransport(loopback)
	tr.MaxIdleConnsPerHost = c
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var rs []result
	for range reps {
		r, err := measure(n, c, func(i int) error {
			ctx, cancel := context.WithTimeout(context.Background(), delivery.DefaultTimeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/signed", bytes.NewReader(payload))
			if err != nil {
				return err
			}
			id, now := "evt_"+strconv.Itoa(i), time.Now()
			sig, err := delivery.Sign([]string{secret}, id, now, payload)
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("User-Agent", delivery.DefaultUserAgent)
			req.Header.Set(delivery.HeaderID, id)
			req.Header.Set(delivery.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
			req.Header.Set(delivery.HeaderSignature, sig)
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			return resp.Body.Close()
		})
		if err != nil {
			return result{}, err
		}
		rs = append(rs, r)
	}
	return median(rs), nil
}

func printRow(name string, c int, r, baseline result) {
	fmt.Printf("%-10s %4d %10.0f %6.2fx %10v %10v %8.0f %9.0f %8v\n", name, c, r.perSec, r.perSec/baseline.perSec,
		r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.allocs, r.bytesPer, r.cpu.Round(100*time.Nanosecond))
}

// printed holds the servers whose version was printed.
var printed sync.Map

// printVersion prints a server's version, once.
func printVersion(name string, db *sql.DB) {
	if _, done := printed.LoadOrStore(name, true); done {
		return
	}
	var v string
	if err := db.QueryRow("SELECT version()").Scan(&v); err == nil {
		fmt.Printf("%s: %.60s\n", name, v)
	}
}

// postgresStore opens pgDSN and returns a migrated sqlstore there, with
// tables of its own named from name, and what drops them and closes the
// database.
func postgresStore(pgDSN, name string) (*sqlstore.Store, *sql.DB, func(), error) {
	db, err := openDB("pgx", pgDSN)
	if err != nil {
		return nil, nil, nil, err
	}
	printVersion("postgres", db)
	st, done, err := migrated(db, fmt.Sprintf("%s%d_", name, time.Now().UnixNano()%1e9), true)
	if err != nil {
		return nil, nil, nil, err
	}
	return st.(*sqlstore.Store), db, done, nil
}

// migrated returns a migrated sqlstore on db, and what drops its tables
// (on servers) and closes db.
func migrated(db *sql.DB, prefix string, drop bool) (delivery.Store, func(), error) {
	s, err := sqlstore.New(db, &sqlstore.Config{TablePrefix: prefix})
	if err == nil {
		err = s.Migrate(context.Background())
	}
	if err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	return s, func() {
		if drop {
			_ = s.Drop(context.Background())
		}
		_ = db.Close()
	}, nil
}

// analyze runs ANALYZE on s's PostgreSQL tables at dsn. Until a table is
// first analyzed, the planner plans statements for the near-empty table
// it saw at their first run, and a completion then reads the attempts
// table whole (see the sqlstore docs); autovacuum analyzes it within its
// first minute.
func analyze(dsn string, s *sqlstore.Store) error {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	p := s.TablePrefix()
	// #nosec G202 -- the tables are the bench's own, named with the prefix the bench made.
	_, err = db.ExecContext(context.Background(), "ANALYZE "+p+"attempts, "+p+"events, "+p+"endpoints")
	return err
}

// fill enqueues n deliveries to 10 endpoints, in batches.
func fill(s *sqlstore.Store, base string, n int) error {
	now := time.Now().UTC().Truncate(time.Microsecond)
	jobs := make([]delivery.Job, 0, 500)
	for i := range n {
		ep := "ep_" + strconv.Itoa(i%10)
		jobs = append(jobs, delivery.Job{Attempt: delivery.Attempt{
			ID: fmt.Sprintf("01BENCH%019d", i), EventID: "evt_" + strconv.Itoa(i), EndpointID: ep, EndpointURL: base + "/" + ep,
			Status: delivery.StatusPending, AttemptNumber: 1, Trigger: delivery.TriggerFirst, ScheduledAt: now,
		}, Payload: payload})
		if len(jobs) == cap(jobs) || i == n-1 {
			if err := s.Insert(context.Background(), jobs...); err != nil {
				return err
			}
			jobs = jobs[:0]
		}
	}
	return nil
}

// drains measures worker processes emptying a backlog: SQLite with one
// process, PostgreSQL with one and three.
func drains(dir, base string, backlog int, pgDSN string) error {
	fmt.Printf("Worker processes draining a backlog of %d deliveries (16 workers a process)\n\n", backlog)
	fmt.Printf("%-10s %9s %10s %14s %14s\n", "store", "processes", "per sec", "peak heap MB", "peak RSS MB")
	type drainRun struct {
		name, driver, dsn string
		procs             int
	}
	runs := []drainRun{{"sqlite", "sqlite", filepath.Join(dir, "drain.db"), 1}}
	if pgDSN != "" {
		runs = append(runs, drainRun{"postgres", "pgx", pgDSN, 1}, drainRun{"postgres", "pgx", pgDSN, 3})
	}
	for _, r := range runs {
		db, err := openDB(r.driver, r.dsn)
		if err != nil {
			return err
		}
		prefix := fmt.Sprintf("drain%d_", time.Now().UnixNano()%1e9)
		st, done, err := migrated(db, prefix, r.driver != "sqlite")
		if err != nil {
			return err
		}
		if err := fill(st.(*sqlstore.Store), base, backlog); err != nil {
			return err
		}
		if r.driver == "sqlite" {
			_ = db.Close() // the worker process has the file to itself
		}
		start := time.Now()
		var cmds []*exec.Cmd
		var outs []*bytes.Buffer
		for range r.procs {
			// #nosec G204 G702 -- the program runs its own binary as worker processes, with the operator's flags.
			cmd := exec.Command(os.Args[0], "-drain-worker", "-driver", r.driver, "-dsn", r.dsn, "-prefix", prefix, base)
			out := new(bytes.Buffer)
			cmd.Stdout, cmd.Stderr = out, os.Stderr
			if err := cmd.Start(); err != nil {
				return err
			}
			cmds, outs = append(cmds, cmd), append(outs, out)
		}
		var heap, rss int64
		for i, cmd := range cmds {
			if err := cmd.Wait(); err != nil {
				return err
			}
			h, _ := strconv.ParseInt(strings.TrimSpace(outs[i].String()), 10, 64)
			heap = max(heap, h)
			if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
				rss = max(rss, ru.Maxrss*1024)
			}
		}
		fmt.Printf("%-10s %9d %10.0f %14.1f %14.1f\n", r.name, r.procs, float64(backlog)/time.Since(start).Seconds(),
			float64(heap)/(1<<20), float64(rss)/(1<<20))
		if r.driver == "sqlite" {
			continue
		}
		done()
	}
	return nil
}

// openDB opens a database for the bench: SQLite as OpenSQLite does, a
// server with enough idle connections for the workers.
func openDB(driver, dsn string) (*sql.DB, error) {
	if driver == "sqlite" {
		return sqlstore.OpenSQLite(dsn)
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxIdleConns(128) // at least the workers, or each attempt opens a connection
	return db, nil
}

// openStore opens the database, as openDB does, and the Store of a worker
// process on its tables with the given prefix.
func openStore(driver, dsn, prefix string) (*sql.DB, *sqlstore.Store, error) {
	db, err := openDB(driver, dsn)
	if err != nil {
		return nil, nil, err
	}
	s, err := sqlstore.New(db, &sqlstore.Config{TablePrefix: prefix})
	if err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	return db, s, nil
}

// sampleHeap records the peak heap in use until the returned func is called.
func sampleHeap(peak *atomic.Uint64) func() {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(stop); <-done }
}

// runWorkerUntilEmpty runs a worker of the given number of workers on s,
// sending with client, until no attempt is pending.
func runWorkerUntilEmpty(s *sqlstore.Store, client *http.Client, base string, workers int) error {
	ctx := context.Background()
	return drainUntil(ctx, s, &delivery.Config{
		HTTPClient:     client,
		Workers:        workers,
		PerEndpoint:    workers,
		PollInterval:   20 * time.Millisecond,
		LookupEndpoint: lookupAt(base),
	}, func() (bool, error) { return nonePending(ctx, s) })
}

// loopbackClient returns a client on its own transport to 127.0.0.1 with
// idle connections for 64 workers, and what closes them.
func loopbackClient() (*http.Client, func()) {
	tr := delivery.NewTransport(loopback)
	tr.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: tr}, tr.CloseIdleConnections
}

// lookupAt returns the endpoints of the receiver at base: endpoint ID is
// at base/ID, signed with the bench's secret.
func lookupAt(base string) delivery.EndpointFunc {
	return func(_ context.Context, id string) (delivery.Endpoint, error) {
		return delivery.Endpoint{ID: id, URL: base + "/" + id, Secrets: []string{secret}}, nil
	}
}

// drainUntil runs a worker with cfg on store until done, asked every 200
// ms, says it is.
func drainUntil(ctx context.Context, store delivery.Store, cfg *delivery.Config, done func() (bool, error)) error {
	d, err := delivery.NewDispatcher(store, cfg)
	if err != nil {
		return err
	}
	if err := d.Start(ctx); err != nil {
		return err
	}
	for {
		time.Sleep(200 * time.Millisecond)
		ok, err := done()
		if err != nil {
			return err
		}
		if ok {
			return d.Stop(ctx)
		}
	}
}

// nonePending reports whether store holds no pending attempt. On
// PostgreSQL that reads the attempts in ID order up to the first pending
// one (see the sqlstore docs): asked every 200 ms, it costs the drain
// little.
func nonePending(ctx context.Context, store delivery.Store) (bool, error) {
	page, err := store.List(ctx, delivery.ListQuery{Statuses: []delivery.Status{delivery.StatusPending}, Limit: 1})
	return len(page.Attempts) == 0, err
}

// drainWorker is one drain worker process: it runs a worker until no
// attempt is pending, then prints its peak heap in bytes.
func drainWorker(driver, dsn, prefix, base string) error {
	db, s, err := openStore(driver, dsn, prefix)
	if err != nil {
		return err
	}
	defer db.Close()
	var peak atomic.Uint64
	stopSampling := sampleHeap(&peak)
	tr := delivery.NewTransport(loopback)
	defer tr.CloseIdleConnections()
	err = runWorkerUntilEmpty(s, &http.Client{Transport: tr}, base, 16)
	stopSampling()
	fmt.Println(peak.Load())
	return err
}
