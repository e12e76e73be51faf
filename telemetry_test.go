package delivery_test

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/webhookkit/delivery"
	"github.com/webhookkit/delivery/memstore"
)

// telemetryBundle is a worker that reports to in-memory OpenTelemetry
// readers.
type telemetryBundle struct {
	*workerBundle
	reader *sdkmetric.ManualReader
	spans  *tracetest.SpanRecorder
	tracer trace.Tracer
}

func setupTelemetry(t *testing.T, change func(*delivery.Config)) *telemetryBundle {
	t.Helper()
	tb := &telemetryBundle{reader: sdkmetric.NewManualReader(), spans: tracetest.NewSpanRecorder()}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tb.spans))
	tb.tracer = tp.Tracer("host")
	tb.workerBundle = setupWorker(t, func(c *delivery.Config) {
		c.Telemetry.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(tb.reader))
		c.Telemetry.TracerProvider = tp
		c.Retry = func(delivery.Attempt, error) (time.Duration, error) { return 0, delivery.ErrNotRetryable }
		if change != nil {
			change(c)
		}
	})
	return tb
}

// metrics collects the metrics by name.
func (tb *telemetryBundle) metrics(t *testing.T) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, tb.reader.Collect(context.Background(), &rm))
	byName := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		require.Equal(t, "github.com/webhookkit/delivery", sm.Scope.Name)
		for _, m := range sm.Metrics {
			byName[m.Name] = m
		}
	}
	return byName
}

// attrs returns a set's attributes as a map of their values' text.
func attrs(set attribute.Set) map[string]string {
	m := map[string]string{}
	for _, kv := range set.ToSlice() {
		m[string(kv.Key)] = kv.Value.String()
	}
	return m
}

// sums returns an Int64 sum's or gauge's values by their attributes' text.
func points(t *testing.T, m metricdata.Metrics) map[string]int64 {
	t.Helper()
	var dps []metricdata.DataPoint[int64]
	switch data := m.Data.(type) {
	case metricdata.Sum[int64]:
		dps = data.DataPoints
	case metricdata.Gauge[int64]:
		dps = data.DataPoints
	default:
		t.Fatalf("%s is a %T", m.Name, m.Data)
	}
	out := map[string]int64{}
	for _, dp := range dps {
		var parts []string
		for _, kv := range dp.Attributes.ToSlice() {
			parts = append(parts, string(kv.Key)+"="+kv.Value.String())
		}
		out[strings.Join(parts, ",")] = dp.Value
	}
	return out
}

func TestMetrics(t *testing.T) {
	tb := setupTelemetry(t, nil)
	ctx := context.Background()
	ok := receiver(t, func(http.ResponseWriter, *http.Request) {})
	bad := receiver(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	release := make(chan struct{})
	held := make(chan struct{}, 1)
	slow := receiver(t, func(http.ResponseWriter, *http.Request) {
		held <- struct{}{}
		<-release
	})
	for id, srv := range map[string]string{"ep_ok": ok.URL, "ep_bad": bad.URL, "ep_slow": slow.URL} {
		tb.endpoints.set(delivery.Endpoint{ID: id, URL: srv})
	}
	_, err := tb.d.Enqueue(ctx, delivery.Event{ID: "evt_ok", Type: "t", Payload: []byte(`{}`)}, delivery.Endpoint{ID: "ep_ok", URL: ok.URL}, nil)
	require.NoError(t, err)
	_, err = tb.d.Enqueue(ctx, delivery.Event{ID: "evt_bad", Type: "t", Payload: []byte(`{}`)}, delivery.Endpoint{ID: "ep_bad", URL: bad.URL}, nil)
	require.NoError(t, err)
	require.NoError(t, tb.d.Start(ctx))
	waitFor(t, "both delivered", func() bool {
		return len(tb.attempts(t, "evt_ok")) == 1 && tb.attempts(t, "evt_ok")[0].Final() &&
			len(tb.attempts(t, "evt_bad")) == 1 && tb.attempts(t, "evt_bad")[0].Final()
	})
	// The counter is added to after the outcome is recorded.
	waitFor(t, "both counted", func() bool {
		m, ok := tb.metrics(t)["delivery.attempts"]
		return ok && len(points(t, m)) == 2
	})

	// One attempt in flight, due 10 s ago by the worker's clock.
	_, err = tb.d.Enqueue(ctx, delivery.Event{ID: "evt_slow", Type: "t", Payload: []byte(`{}`)}, delivery.Endpoint{ID: "ep_slow", URL: slow.URL}, nil)
	require.NoError(t, err)
	<-held
	tb.clock.Advance(10 * time.Second)

	ms := tb.metrics(t)
	attempts := ms["delivery.attempts"]
	require.Equal(t, "{attempt}", attempts.Unit)
	require.Equal(t, map[string]int64{
		"delivery.attempt.status=success,delivery.attempt.trigger=first,delivery.response.status_class=2xx": 1,
		"delivery.attempt.status=failure,delivery.attempt.trigger=first,delivery.response.status_class=5xx": 1,
	}, points(t, attempts), "by status, trigger and status-code class; no endpoint, no URL")

	duration := ms["http.client.request.duration"]
	require.Equal(t, "s", duration.Unit)
	hist, isHist := duration.Data.(metricdata.Histogram[float64])
	require.True(t, isHist, "%T", duration.Data)
	got := map[string]uint64{}
	for _, dp := range hist.DataPoints {
		a := attrs(dp.Attributes)
		got[a["http.response.status_code"]+" "+a["error.type"]] = dp.Count
		require.Equal(t, "POST", a["http.request.method"])
		require.NotContains(t, a, "server.address", "no per-endpoint attribute by default")
		require.Positive(t, dp.Sum)
	}
	require.Equal(t, map[string]uint64{"200 ": 1, "500 500": 1}, got)

	require.Equal(t, "{request}", ms["http.client.active_requests"].Unit)
	require.Equal(t, map[string]int64{"http.request.method=POST": 1}, points(t, ms["http.client.active_requests"]), "the held request")

	claims := ms["delivery.claim.size"]
	require.Equal(t, "{attempt}", claims.Unit)
	sizes, isHist := claims.Data.(metricdata.Histogram[int64])
	require.True(t, isHist, "%T", claims.Data)
	require.Len(t, sizes.DataPoints, 1)
	require.Positive(t, sizes.DataPoints[0].Count, "claims made")
	require.Equal(t, int64(3), sizes.DataPoints[0].Sum, "attempts claimed")

	require.Equal(t, map[string]int64{"": 1}, points(t, ms["delivery.queue.due"]), "the attempt in flight is due")
	lag, isGauge := ms["delivery.queue.lag"].Data.(metricdata.Gauge[float64])
	require.True(t, isGauge)
	require.Equal(t, "s", ms["delivery.queue.lag"].Unit)
	require.InDelta(t, 10, lag.DataPoints[0].Value, 0.001, "due for 10 s by the Dispatcher's clock")
	require.Equal(t, map[string]int64{
		"delivery.endpoint.state=paused": 0, "delivery.endpoint.state=probing": 0, "delivery.endpoint.state=disabled": 0,
	}, points(t, ms["delivery.endpoints"]))

	close(release)
	waitFor(t, "the held one delivered", func() bool { return tb.attempts(t, "evt_slow")[0].Final() })
	require.NoError(t, tb.d.Stop(ctx))
	ms = tb.metrics(t)
	require.NotContains(t, ms, "delivery.queue.due", "a stopped worker reports no queue")
}

func TestMetricsEndpointAttribute(t *testing.T) {
	tb := setupTelemetry(t, func(c *delivery.Config) { c.Telemetry.EndpointAttribute = true })
	ctx := context.Background()
	ep, _ := tb.countingEndpoint(t)
	_, err := tb.d.Deliver(ctx, delivery.Event{ID: "evt_1", Type: "t", Payload: []byte(`{}`)}, ep)
	require.NoError(t, err)
	ms := tb.metrics(t)
	require.Equal(t, map[string]int64{
		"delivery.attempt.status=success,delivery.attempt.trigger=first,delivery.endpoint.id=ep_1,delivery.response.status_class=2xx": 1,
	}, points(t, ms["delivery.attempts"]))
	hist := ms["http.client.request.duration"].Data.(metricdata.Histogram[float64])
	require.Equal(t, "ep_1", attrs(hist.DataPoints[0].Attributes)["delivery.endpoint.id"])
}

// spanOf returns the recorded spans named name.
func spansNamed(tb *telemetryBundle, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range tb.spans.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

func TestTraces(t *testing.T) {
	for _, send := range []bool{false, true} {
		t.Run(map[bool]string{false: "no traceparent sent", true: "traceparent sent"}[send], func(t *testing.T) {
			tb := setupTelemetry(t, func(c *delivery.Config) {
				c.Telemetry.SendTraceParent = send
				c.Retry = func(delivery.Attempt, error) (time.Duration, error) { return time.Second, nil }
			})
			ctx := context.Background()
			headers := make(chan http.Header, 2)
			calls := 0
			srv := receiver(t, func(w http.ResponseWriter, r *http.Request) {
				headers <- r.Header.Clone()
				calls++
				if calls == 1 {
					w.WriteHeader(http.StatusServiceUnavailable)
				}
			})
			u, err := url.Parse(srv.URL)
			require.NoError(t, err)
			// A URL with tokens, which no span may show.
			ep := delivery.Endpoint{ID: "ep_1", URL: "http://" + u.Host + "/hooks/secret-token?key=secret-key"}
			tb.endpoints.set(ep)

			bctx, business := tb.tracer.Start(ctx, "business")
			_, err = tb.d.Enqueue(bctx, delivery.Event{ID: "evt_1", Type: "invoice.paid", Payload: []byte(`{}`)}, ep, nil)
			require.NoError(t, err)
			business.End()
			require.NoError(t, tb.d.Start(ctx))
			waitFor(t, "the first try", func() bool { return len(tb.attempts(t, "evt_1")) == 2 })
			tb.clock.Advance(time.Second)
			tb.d.Wake()
			waitFor(t, "the retry", func() bool {
				as := tb.attempts(t, "evt_1")
				return len(as) == 2 && as[1].Status == delivery.StatusSuccess
			})
			waitFor(t, "two spans", func() bool { return len(spansNamed(tb, "POST")) == 2 })

			as := tb.attempts(t, "evt_1")
			tries := spansNamed(tb, "POST")
			for i, s := range tries {
				require.Equal(t, trace.SpanKindClient, s.SpanKind())
				require.Equal(t, business.SpanContext().TraceID(), s.SpanContext().TraceID(), "try %d is in the business trace", i)
				require.Equal(t, business.SpanContext().SpanID(), s.Parent().SpanID(), "try %d is a child of the span that enqueued", i)
				a := attrs(attribute.NewSet(s.Attributes()...))
				for k, v := range a {
					require.NotContains(t, v, "secret", "attribute %s shows a secret", k)
				}
				require.Equal(t, "POST", a["http.request.method"])
				require.Equal(t, u.Hostname(), a["server.address"])
				require.Equal(t, u.Port(), a["server.port"])
				require.Equal(t, as[i].ID, a["delivery.attempt.id"])
				require.Equal(t, "evt_1", a["delivery.event.id"])
				require.Equal(t, "ep_1", a["delivery.endpoint.id"])

				h := <-headers
				if send {
					require.Equal(t, "00-"+s.SpanContext().TraceID().String()+"-"+s.SpanContext().SpanID().String()+"-01", h.Get("Traceparent"))
				} else {
					require.Empty(t, h.Get("Traceparent"), "no trace context leaves by default")
				}
			}
			first, retry := attrs(attribute.NewSet(tries[0].Attributes()...)), attrs(attribute.NewSet(tries[1].Attributes()...))
			require.Equal(t, "503", first["http.response.status_code"])
			require.Equal(t, "503", first["error.type"])
			require.Equal(t, codes.Error, tries[0].Status().Code)
			require.NotContains(t, first, "http.request.resend_count")
			require.Equal(t, "200", retry["http.response.status_code"])
			require.Equal(t, "1", retry["http.request.resend_count"])
			common := []string{"http.request.method", "server.address", "server.port", "delivery.attempt.id", "delivery.event.id",
				"delivery.endpoint.id", "http.response.status_code"}
			require.ElementsMatch(t, append(common, "error.type"), slices.Collect(maps.Keys(first)), "the attributes of a failed first try")
			require.ElementsMatch(t, append(common, "http.request.resend_count"), slices.Collect(maps.Keys(retry)), "the attributes of a retry")
			require.NotEqual(t, codes.Error, tries[1].Status().Code)
		})
	}
}

// The trace context travels with the attempt through the Store: a worker
// of another Dispatcher, with its own tracer provider, as in another
// process, sends the attempt as a child of the span that enqueued it.
func TestTraceAcrossDispatchers(t *testing.T) {
	tb := setupTelemetry(t, nil)
	ctx := context.Background()
	ep, calls := tb.countingEndpoint(t)
	store := tb.store
	other := tracetest.NewSpanRecorder()
	enqueuer, err := delivery.NewDispatcher(store, &delivery.Config{
		Now:       tb.clock.Now,
		Telemetry: delivery.Telemetry{TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(other))},
	})
	require.NoError(t, err)
	bctx, business := tb.tracer.Start(ctx, "business")
	_, err = enqueuer.Enqueue(bctx, delivery.Event{ID: "evt_1", Type: "t", Payload: []byte(`{}`)}, ep, nil)
	require.NoError(t, err)
	business.End()
	require.NoError(t, tb.d.Start(ctx))
	waitFor(t, "sent", func() bool { return calls.Load() == 1 && len(spansNamed(tb, "POST")) == 1 })
	s := spansNamed(tb, "POST")[0]
	require.Equal(t, business.SpanContext().TraceID(), s.SpanContext().TraceID())
	require.Equal(t, business.SpanContext().SpanID(), s.Parent().SpanID())
	require.True(t, s.Parent().IsRemote(), "the parent came through the store")
	require.Empty(t, other.Ended(), "the enqueuer sent nothing")
}

// A Deliver call's span is a child of the caller's span, and no
// telemetry setting is needed for it to work: without providers, the
// global no-op ones take everything.
func TestDeliverSpanIsChildOfCaller(t *testing.T) {
	tb := setupTelemetry(t, nil)
	ep, _ := tb.countingEndpoint(t)
	ctx, parent := tb.tracer.Start(context.Background(), "handler")
	_, err := tb.d.Deliver(ctx, delivery.Event{ID: "evt_1", Type: "t", Payload: []byte(`{}`)}, ep)
	require.NoError(t, err)
	parent.End()
	tries := spansNamed(tb, "POST")
	require.Len(t, tries, 1)
	require.Equal(t, parent.SpanContext().SpanID(), tries[0].Parent().SpanID())

	plain, err := delivery.NewDispatcher(memstore.New(), &delivery.Config{AddressPolicy: loopback})
	require.NoError(t, err)
	_, err = plain.Deliver(ctx, delivery.Event{ID: "evt_2", Type: "t", Payload: []byte(`{}`)}, ep)
	require.NoError(t, err)
}

// failingClaims is a Store whose claims fail, as when the database is
// down.
type failingClaims struct{ *memstore.Store }

func (failingClaims) Claim(context.Context, delivery.ClaimRequest) ([]delivery.Job, error) {
	return nil, errors.New("database is down")
}

// Without a Logger, the errors that stall work reach slog.Default(), and
// routine records do not. The test changes the process's default logger,
// so it does not run in parallel.
func TestDefaultLoggerShowsErrors(t *testing.T) {
	var out syncBuffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug})))
	defer slog.SetDefault(old)

	ctx := context.Background()
	srv := receiver(t, func(http.ResponseWriter, *http.Request) {})
	d, err := delivery.NewDispatcher(failingClaims{memstore.New()}, &delivery.Config{
		AddressPolicy:  loopback,
		PollInterval:   time.Millisecond,
		LookupEndpoint: func(context.Context, string) (delivery.Endpoint, error) { return delivery.Endpoint{}, nil },
	})
	require.NoError(t, err)
	_, err = d.Deliver(ctx, delivery.Event{ID: "evt_1", Type: "t", Payload: []byte(`{}`)}, delivery.Endpoint{ID: "ep_1", URL: srv.URL})
	require.NoError(t, err)
	require.Empty(t, out.String(), "a delivered attempt is routine")

	require.NoError(t, d.Start(ctx))
	waitFor(t, "the claim error logged", func() bool { return strings.Contains(out.String(), "database is down") })
	require.NoError(t, d.Stop(ctx))
	require.Contains(t, out.String(), "level=ERROR msg=\"delivery: claim failed\"")
}
