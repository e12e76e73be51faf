package sqlstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/webhookkit/delivery"
	"github.com/webhookkit/delivery/sqlstore"
)

// buildWorker builds testdata/worker once per test binary.
var buildWorker = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "delivery-worker")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "worker")
	out, err := exec.Command("go", "build", "-o", bin, "./testdata/worker").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// countingReceiver counts, per webhook-id, the requests it gets and the
// ones it accepts. It fails a request with 500 at the given rate.
type countingReceiver struct {
	*httptest.Server
	failRate float64
	// hold, when set, is how long each request is held open, so that
	// requests overlap.
	hold     time.Duration
	mu       sync.Mutex
	hits     map[string]int
	accepted map[string]int
	// open and most count the requests open per endpoint (the URL path),
	// now and at most.
	open, most map[string]int
	total      atomic.Int64
}

// newCountingReceiver starts a countingReceiver that fails requests at
// failRate and holds each open for hold.
func newCountingReceiver(t *testing.T, failRate float64, hold time.Duration) *countingReceiver {
	r := &countingReceiver{failRate: failRate, hold: hold, hits: map[string]int{}, accepted: map[string]int{}, open: map[string]int{}, most: map[string]int{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		id := req.Header.Get("webhook-id")
		fail := rand.Float64() < r.failRate
		r.mu.Lock()
		r.hits[id]++
		if !fail {
			r.accepted[id]++
		}
		r.open[req.URL.Path]++
		r.most[req.URL.Path] = max(r.most[req.URL.Path], r.open[req.URL.Path])
		r.mu.Unlock()
		time.Sleep(r.hold)
		r.mu.Lock()
		r.open[req.URL.Path]--
		r.mu.Unlock()
		r.total.Add(1)
		if fail {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(r.Close)
	return r
}

// processEnv is a database the worker processes share.
type processEnv struct {
	driver, dsn string
	store       *sqlstore.Store
}

// processEngines returns SQLite (if withSQLite) and the servers in the
// list whose DSN is set.
func processEngines(t *testing.T, withSQLite bool, servers ...string) map[string]func(t *testing.T) processEnv {
	out := map[string]func(t *testing.T) processEnv{}
	if withSQLite {
		out["sqlite"] = func(t *testing.T) processEnv {
			path := filepath.Join(t.TempDir(), "crash.db")
			db, err := sqlstore.OpenSQLite(path)
			require.NoError(t, err)
			t.Cleanup(func() { _ = db.Close() })
			return processEnv{driver: "sqlite", dsn: path, store: newStore(t, db)}
		}
	}
	for _, e := range engines(t) {
		for _, name := range servers {
			if e.name == name {
				driver := map[string]string{"postgres": "pgx", "mysql": "mysql"}[name]
				out[name] = func(t *testing.T) processEnv {
					return processEnv{driver: driver, dsn: e.dsn, store: newStore(t, e.open(t))}
				}
			}
		}
	}
	return out
}

// serverEngines returns the servers whose DSN is set, or skips the test,
// which needs one to do what.
func serverEngines(t *testing.T, what string) map[string]func(t *testing.T) processEnv {
	engines := processEngines(t, false, "postgres", "mysql")
	if len(engines) == 0 {
		t.Skipf("set DELIVERY_TEST_POSTGRES_DSN or DELIVERY_TEST_MYSQL_DSN to %s on a shared server", what)
	}
	return engines
}

// enqueue stores n deliveries, to 10 endpoints.
func enqueue(t *testing.T, s *sqlstore.Store, n int) {
	d, err := delivery.NewDispatcher(s, nil)
	require.NoError(t, err)
	for i := range n {
		ep := fmt.Sprintf("ep_%d", i%10)
		_, err := d.Enqueue(context.Background(), delivery.Event{ID: fmt.Sprintf("evt_%05d", i), Payload: []byte(`{}`)},
			delivery.Endpoint{ID: ep, URL: "http://127.0.0.1/" + ep}, nil)
		require.NoError(t, err)
	}
}

func startWorker(t *testing.T, env processEnv, receiver string, exitWhenIdle bool, flags ...string) *exec.Cmd {
	bin, err := buildWorker()
	require.NoError(t, err)
	cmd := exec.Command(bin, append([]string{"-driver", env.driver, "-dsn", env.dsn, "-prefix", env.store.TablePrefix(),
		"-receiver", receiver, fmt.Sprintf("-exit-when-idle=%v", exitWhenIdle)}, flags...)...)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	return cmd
}

// requireAllDelivered checks that every event reached the receiver, has
// exactly one successful attempt, and left nothing pending; and holds the
// audit trail against the receiver's log: for every event, the requests
// the receiver got are at most the attempts that may have sent one (those
// with AttemptedAt, and those taken over as lease expired), and the
// requests it accepted at most the successes and lease-expired attempts.
// It returns how many requests repeated an accepted delivery.
func requireAllDelivered(t *testing.T, env processEnv, r *countingReceiver, n int) (duplicates int) {
	ctx := context.Background()
	success, maySend, acceptable := map[string]int{}, map[string]int{}, map[string]int{}
	for q := (delivery.ListQuery{Limit: delivery.MaxListLimit}); ; {
		page, err := env.store.List(ctx, q)
		require.NoError(t, err)
		for _, a := range page.Attempts {
			require.NotEqual(t, delivery.StatusPending, a.Status, "attempt %s left pending", a.ID)
			leaseExpired := strings.HasPrefix(a.Error, "lease expired")
			if a.Status == delivery.StatusSuccess {
				success[a.EventID]++
			}
			if !a.AttemptedAt.IsZero() || leaseExpired {
				maySend[a.EventID]++
			}
			if a.Status == delivery.StatusSuccess || leaseExpired {
				acceptable[a.EventID]++
			}
		}
		if page.Next == "" {
			break
		}
		q.After = page.Next
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range n {
		id := fmt.Sprintf("evt_%05d", i)
		require.Equal(t, 1, success[id], "event %s must have exactly one successful attempt", id)
		require.GreaterOrEqual(t, r.accepted[id], 1, "event %s never reached the receiver", id)
		require.LessOrEqual(t, r.hits[id], maySend[id], "event %s: the receiver got %d requests, but only %d attempts on record may have sent one",
			id, r.hits[id], maySend[id])
		require.LessOrEqual(t, r.accepted[id], acceptable[id], "event %s: the receiver accepted %d requests, but only %d attempts on record "+
			"are a success or of unknown outcome", id, r.accepted[id], acceptable[id])
		duplicates += r.accepted[id] - 1
	}
	return duplicates
}

// A worker process killed with SIGKILL, again and again, mid-batch, loses
// no delivery.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills worker processes")
	}
	const n = 2000
	for name, setup := range processEngines(t, true, "postgres", "mysql") {
		t.Run(name, func(t *testing.T) {
			env := setup(t)
			enqueue(t, env.store, n)
			r := newCountingReceiver(t, 0, 0)
			kills := 0
			for range 3 {
				before := r.total.Load()
				cmd := startWorker(t, env, r.URL, false)
				for r.total.Load() < before+300 && r.total.Load() < n {
					time.Sleep(5 * time.Millisecond)
				}
				require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
				_ = cmd.Wait()
				kills++
			}
			cmd := startWorker(t, env, r.URL, true)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(3 * time.Minute):
				_ = cmd.Process.Kill()
				t.Fatal("the last worker did not finish")
			}
			dups := requireAllDelivered(t, env, r, n)
			lease, unanswered := countUnanswered(t, env)
			t.Logf("%s: %d deliveries, %d SIGKILLs, %d requests, %d duplicate deliveries, %d attempts recorded as lease expired, %d more with no response",
				name, n, kills, r.total.Load(), dups, lease, unanswered-lease)
			require.LessOrEqual(t, dups, unanswered, "a duplicate only follows an attempt whose sender saw no answer")
		})
	}
}

// countUnanswered counts the failed attempts whose sender saw no answer:
// those taken over after their sender died (lease expired, never marked
// sent), and all of them, timeouts included.
func countUnanswered(t *testing.T, env processEnv) (leaseExpired, unanswered int) {
	for q := (delivery.ListQuery{Statuses: []delivery.Status{delivery.StatusFailure}, Limit: delivery.MaxListLimit}); ; {
		page, err := env.store.List(context.Background(), q)
		require.NoError(t, err)
		for _, a := range page.Attempts {
			if a.ResponseStatusCode == 0 {
				unanswered++
			}
			if a.AttemptedAt.IsZero() {
				leaseExpired++
			}
		}
		if page.Next == "" {
			return leaseExpired, unanswered
		}
		q.After = page.Next
	}
}

// Three processes enqueue the same events at once: each event reaches each
// endpoint once, and of the three enqueues of it exactly one stores it.
func TestConcurrentEnqueueProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs enqueueing processes")
	}
	const n = 1000
	engines := serverEngines(t, "enqueue from processes")
	bin, err := buildWorker()
	require.NoError(t, err)
	for name, setup := range engines {
		t.Run(name, func(t *testing.T) {
			env := setup(t)
			outs := make([][]byte, 3)
			errs := make([]error, 3)
			var wg sync.WaitGroup
			for i := range outs {
				wg.Go(func() {
					cmd := exec.Command(bin, "-driver", env.driver, "-dsn", env.dsn, "-prefix", env.store.TablePrefix(), "-enqueue", fmt.Sprint(n))
					cmd.Stderr = os.Stderr
					outs[i], errs[i] = cmd.Output()
				})
			}
			wg.Wait()
			var stored, duplicates int
			for i := range outs {
				require.NoError(t, errs[i], "process %d", i)
				var s, d int
				_, err := fmt.Sscanf(string(outs[i]), "stored %d duplicates %d", &s, &d)
				require.NoError(t, err, "process %d printed %q", i, outs[i])
				stored, duplicates = stored+s, duplicates+d
			}
			require.Equal(t, n, stored, "each event is stored by exactly one process")
			require.Equal(t, 2*n, duplicates, "the other two are told it is a duplicate")
			perEvent := map[string]int{}
			for q := (delivery.ListQuery{Limit: delivery.MaxListLimit}); ; {
				page, err := env.store.List(context.Background(), q)
				require.NoError(t, err)
				for _, a := range page.Attempts {
					perEvent[a.EventID]++
					require.Equal(t, 1, a.AttemptNumber)
				}
				if page.Next == "" {
					break
				}
				q.After = page.Next
			}
			require.Len(t, perEvent, n)
			for id, c := range perEvent {
				require.Equal(t, 1, c, "event %s", id)
			}
		})
	}
}

// Three worker processes with PerEndpoint 2 share one database: the
// receiver, which holds each request open a little so that requests
// overlap, never has more than 2 requests open to one endpoint, since the
// store keeps the limit across processes.
func TestPerEndpointAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs worker processes")
	}
	const n, perEndpoint = 600, 2
	for name, setup := range serverEngines(t, "run workers") {
		t.Run(name, func(t *testing.T) {
			env := setup(t)
			enqueue(t, env.store, n)
			r := newCountingReceiver(t, 0.1, 5*time.Millisecond)
			var cmds []*exec.Cmd
			for range 3 {
				cmds = append(cmds, startWorker(t, env, r.URL, true, fmt.Sprintf("-per-endpoint=%d", perEndpoint)))
			}
			for _, cmd := range cmds {
				require.NoError(t, cmd.Wait())
			}
			requireAllDelivered(t, env, r, n)
			r.mu.Lock()
			defer r.mu.Unlock()
			require.Len(t, r.most, 10, "every endpoint got requests")
			for ep, most := range r.most {
				require.LessOrEqual(t, most, perEndpoint, "endpoint %s had %d requests open at once", ep, most)
			}
			t.Logf("%s: %d deliveries by 3 processes, %d requests, most open at once per endpoint: %v", name, n, r.total.Load(), r.most)
		})
	}
}

// Three worker processes share one database while the receiver fails a
// fifth of the requests: nothing is lost, and no delivery is made twice,
// since no process dies and leases outlast every request.
func TestMultiProcessWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs worker processes")
	}
	const n = 5000
	engines := serverEngines(t, "run workers")
	for name, setup := range engines {
		t.Run(name, func(t *testing.T) {
			env := setup(t)
			enqueue(t, env.store, n)
			r := newCountingReceiver(t, 0.2, 0)
			var cmds []*exec.Cmd
			for range 3 {
				cmds = append(cmds, startWorker(t, env, r.URL, true))
			}
			for _, cmd := range cmds {
				require.NoError(t, cmd.Wait())
			}
			dups := requireAllDelivered(t, env, r, n)
			t.Logf("%s: %d deliveries by 3 processes, %d requests (%.0f%% failed on purpose), %d duplicate deliveries",
				name, n, r.total.Load(), 20.0, dups)
			require.Zero(t, dups, "no attempt is sent twice while its lease holds")
		})
	}
}
