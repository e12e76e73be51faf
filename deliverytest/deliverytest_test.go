package deliverytest_test

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/webhookkit/delivery"
	"github.com/webhookkit/delivery/deliverytest"
	"github.com/webhookkit/delivery/memstore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A host's test: enqueue, drain, assert; no address policy, lookup table
// or paging loop of its own.
func TestReceiverAndDrain(t *testing.T) {
	r := deliverytest.NewReceiver(t)
	store := memstore.New()
	cfg := r.Config()
	cfg.Retry = delivery.NewRetryPolicy(0) // one retry, at once
	d, err := delivery.NewDispatcher(store, cfg)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, d.Start(ctx))
	t.Cleanup(func() { require.NoError(t, d.Stop(context.Background())) })

	r.Respond("ep_down", http.StatusServiceUnavailable)
	ev := delivery.Event{ID: "evt_1", Type: "order.created", Payload: []byte(`{"order":1}`)}
	_, err = d.EnqueueMany(ctx, ev, []delivery.Endpoint{r.Endpoint("ep_1"), r.Endpoint("ep_down")}, nil)
	require.NoError(t, err)
	deliverytest.Drain(t, store)

	r.RequireDelivered(t, "evt_1", "ep_1")
	got := r.Requests("ep_1")
	require.Len(t, got, 1)
	require.True(t, got[0].Verified)
	require.JSONEq(t, `{"order":1}`, string(got[0].Body))
	down := r.Requests("ep_down")
	require.Len(t, down, 2, "the first try and its retry")
	require.Equal(t, http.StatusServiceUnavailable, down[1].Status)
	require.False(t, failsTest(func(tb testing.TB) { r.RequireDelivered(tb, "evt_1", "ep_1") }))
	require.True(t, failsTest(func(tb testing.TB) { r.RequireDelivered(tb, "evt_1", "ep_down") }), "never accepted")
	require.True(t, failsTest(func(tb testing.TB) { r.RequireDelivered(tb, "evt_2", "ep_1") }), "never sent")

	// A request signed with another secret is answered 401 and recorded
	// as not verified.
	other := r.Endpoint("ep_1")
	other.ID, other.Secrets = "ep_forged", []string{delivery.NewSecret()}
	other.URL = r.URL + "/ep_forged"
	a, err := d.Deliver(ctx, delivery.Event{ID: "evt_2", Payload: []byte(`{}`)}, other)
	require.ErrorIs(t, err, delivery.ErrDeliveryFailed)
	require.Equal(t, http.StatusUnauthorized, a.ResponseStatusCode)
	require.False(t, r.Requests("ep_forged")[0].Verified)
}

// WaitDrained returns the context's error, naming an attempt still due,
// when its context ends first: here no Dispatcher runs.
func TestWaitDrainedWithoutAWorker(t *testing.T) {
	store := memstore.New()
	d, err := delivery.NewDispatcher(store, nil)
	require.NoError(t, err)
	a, err := d.Enqueue(context.Background(), delivery.Event{ID: "evt_1"}, delivery.Endpoint{ID: "ep_1", URL: "https://example.com/"}, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = deliverytest.WaitDrained(ctx, store)
	require.ErrorIs(t, err, context.Canceled)
	require.Contains(t, err.Error(), a.ID)

	// An attempt due later does not hold the drain up.
	later := &delivery.EnqueueOpts{ScheduledAt: time.Now().Add(time.Hour)}
	_, err = d.Enqueue(context.Background(), delivery.Event{ID: "evt_later"}, delivery.Endpoint{ID: "ep_2", URL: "https://example.com/"}, later)
	require.NoError(t, err)
	_, err = d.CancelEvent(context.Background(), "evt_1")
	require.NoError(t, err)
	require.NoError(t, deliverytest.WaitDrained(context.Background(), store))
}

// failsTest reports whether f fails the test it is given.
func failsTest(f func(testing.TB)) bool {
	tb := &recordingTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(tb)
	}()
	<-done
	return tb.failed
}

// recordingTB records a failure and stops its goroutine, as testing.T
// does, without failing the real test.
type recordingTB struct {
	testing.TB
	failed bool
	msg    strings.Builder
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.failed = true
	fmt.Fprintf(&r.msg, format, args...)
	runtime.Goexit()
}
