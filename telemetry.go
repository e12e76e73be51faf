package delivery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Telemetry configures the OpenTelemetry metrics and traces of a
// Dispatcher. The zero Telemetry reports to the global providers, which
// discard everything until the host installs an SDK (otel.SetMeterProvider,
// otel.SetTracerProvider): a host that sets OpenTelemetry up gets metrics
// and traces with no code. The package documentation lists every metric.
type Telemetry struct {
	// MeterProvider makes the metrics' instruments. Defaults to
	// otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
	// TracerProvider makes the span of every attempt. Defaults to
	// otel.GetTracerProvider().
	TracerProvider trace.TracerProvider
	// EndpointAttribute adds the delivery.endpoint.id attribute to the
	// attempt metrics (delivery.attempts, http.client.request.duration).
	// Off by default: every endpoint then makes its own time series, which
	// a host with many customers cannot afford. Spans always name the
	// endpoint.
	EndpointAttribute bool
	// SendTraceParent sends the W3C traceparent header of the attempt's
	// span to the receiver. Off by default: it tells a third party the
	// host's trace and span IDs (see SECURITY.md).
	SendTraceParent bool
}

// instrumentationName names the library to OpenTelemetry.
const instrumentationName = "github.com/webhookkit/delivery"

// Attribute keys of this library's metrics and spans. The HTTP ones are
// the OpenTelemetry semantic conventions'.
const (
	keyAttemptStatus  = attribute.Key("delivery.attempt.status")
	keyAttemptTrigger = attribute.Key("delivery.attempt.trigger")
	keyStatusClass    = attribute.Key("delivery.response.status_class")
	keyEndpointID     = attribute.Key("delivery.endpoint.id")
	keyEndpointState  = attribute.Key("delivery.endpoint.state")
	keyAttemptID      = attribute.Key("delivery.attempt.id")
	keyEventID        = attribute.Key("delivery.event.id")
	keyMethod         = attribute.Key("http.request.method")
	keyStatusCode     = attribute.Key("http.response.status_code")
	keyResendCount    = attribute.Key("http.request.resend_count")
	keyErrorType      = attribute.Key("error.type")
	keyServerAddress  = attribute.Key("server.address")
	keyServerPort     = attribute.Key("server.port")
)

// durationBuckets are the OpenTelemetry HTTP conventions' advised bounds
// of http.client.request.duration, in seconds, with DefaultTimeout's
// neighbourhood added: webhook receivers are often slow.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 15, 30}

// claimBuckets bound delivery.claim.size, in attempts.
var claimBuckets = []float64{0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512}

// telemetry holds a Dispatcher's instruments and tracer.
type telemetry struct {
	cfg Telemetry
	// sets caches the attribute sets of the attempt metrics by outcome
	// (outcomeKey), when they name no endpoint: a few dozen, each built
	// once.
	sets      sync.Map // outcomeKey -> outcomeOptions
	tracer    trace.Tracer
	meter     metric.Meter
	attempts  metric.Int64Counter
	duration  metric.Float64Histogram
	active    metric.Int64UpDownCounter
	claimSize metric.Int64Histogram
	due       metric.Int64ObservableGauge
	lag       metric.Float64ObservableGauge
	endpoints metric.Int64ObservableGauge
}

// newTelemetry makes the instruments of cfg's providers.
func newTelemetry(cfg Telemetry) (*telemetry, error) {
	if cfg.MeterProvider == nil {
		cfg.MeterProvider = otel.GetMeterProvider()
	}
	if cfg.TracerProvider == nil {
		cfg.TracerProvider = otel.GetTracerProvider()
	}
	t := &telemetry{cfg: cfg}
	version := trace.WithInstrumentationVersion(Version)
	t.tracer = cfg.TracerProvider.Tracer(instrumentationName, version)
	m := cfg.MeterProvider.Meter(instrumentationName, metric.WithInstrumentationVersion(Version))
	t.meter = m
	var errs [7]error
	t.attempts, errs[0] = m.Int64Counter("delivery.attempts", metric.WithUnit("{attempt}"),
		metric.WithDescription("Attempts completed: sent and recorded, or canceled one by one."))
	t.duration, errs[1] = m.Float64Histogram("http.client.request.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of the HTTP requests of attempts, to the end of reading the response."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	t.active, errs[2] = m.Int64UpDownCounter("http.client.active_requests", metric.WithUnit("{request}"),
		metric.WithDescription("Requests of attempts in flight."))
	t.claimSize, errs[3] = m.Int64Histogram("delivery.claim.size", metric.WithUnit("{attempt}"),
		metric.WithDescription("Attempts leased by each claim of the worker; the count is the number of claims."),
		metric.WithExplicitBucketBoundaries(claimBuckets...))
	t.due, errs[4] = m.Int64ObservableGauge("delivery.queue.due", metric.WithUnit("{attempt}"),
		metric.WithDescription("Pending attempts due now, of endpoints neither paused nor disabled."))
	t.lag, errs[5] = m.Float64ObservableGauge("delivery.queue.lag", metric.WithUnit("s"),
		metric.WithDescription("How long the oldest due attempt has been due, of endpoints neither paused nor disabled."))
	t.endpoints, errs[6] = m.Int64ObservableGauge("delivery.endpoints", metric.WithUnit("{endpoint}"),
		metric.WithDescription("Endpoints that are paused, probing (half-open) or disabled."))
	if err := errors.Join(errs[:]...); err != nil {
		return nil, fmt.Errorf("telemetry instruments: %w", err)
	}
	return t, nil
}

// traceParentOf returns the W3C traceparent of ctx's span, or empty when
// ctx has none.
func traceParentOf(ctx context.Context) string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	var c traceParentCarrier
	propagation.TraceContext{}.Inject(ctx, &c)
	return c.value
}

// traceParentCarrier carries a traceparent between the W3C propagator and
// a Job, without the map of a general carrier.
type traceParentCarrier struct{ value string }

func (c *traceParentCarrier) Get(key string) string {
	if key == "traceparent" {
		return c.value
	}
	return ""
}

func (c *traceParentCarrier) Set(key, value string) {
	if key == "traceparent" {
		c.value = value
	}
}

func (c *traceParentCarrier) Keys() []string { return []string{"traceparent"} }

// startAttempt starts the client span of job's request. Its parent is the
// span that enqueued the event, when job carries one, or else ctx's span.
func (t *telemetry) startAttempt(ctx context.Context, job Job) (context.Context, trace.Span) {
	if job.TraceParent != "" {
		ctx = propagation.TraceContext{}.Extract(ctx, &traceParentCarrier{value: job.TraceParent})
	}
	return t.tracer.Start(ctx, "POST", clientSpan...)
}

// endAttempt ends the span of a's request to u (nil when no request was
// made), which sendErr, if any, failed. The attributes are set in one
// call, and kept to those an operator needs to find the attempt and see
// what happened: the SDK's cost grows with each one, and the audit record
// holds the rest.
func (t *telemetry) endAttempt(span trace.Span, a Attempt, u *url.URL, sendErr error) {
	if !span.IsRecording() {
		span.End()
		return
	}
	attrs := make([]attribute.KeyValue, 0, 9)
	attrs = append(attrs,
		keyMethod.String("POST"),
		keyAttemptID.String(a.ID),
		keyEventID.String(a.EventID),
		keyEndpointID.String(a.EndpointID),
	)
	// The host and port only: a path or query may hold a token, and
	// userinfo a password.
	if u != nil {
		attrs = append(attrs, keyServerAddress.String(u.Hostname()))
		if port := serverPort(u); port != 0 {
			attrs = append(attrs, keyServerPort.Int(port))
		}
	}
	if a.AttemptNumber > 1 {
		attrs = append(attrs, keyResendCount.Int(a.AttemptNumber-1))
	}
	if a.ResponseStatusCode != 0 {
		attrs = append(attrs, keyStatusCode.Int(a.ResponseStatusCode))
	}
	if a.Status != StatusSuccess {
		attrs = append(attrs, keyErrorType.String(errorType(a, sendErr)))
		span.SetStatus(codes.Error, a.Error)
	}
	span.SetAttributes(attrs...)
	span.End()
}

// serverPort is u's port, or its scheme's default port, or 0 when neither
// is known.
func serverPort(u *url.URL) int {
	if p := u.Port(); p != "" {
		port, _ := strconv.Atoi(p)
		return port
	}
	switch u.Scheme {
	case "https":
		return 443
	case "http":
		return 80
	}
	return 0
}

// requestStarted and requestEnded count requests in flight. They measure
// with no span in the context: an exemplar, which a sampled span would
// make the SDK take, says nothing about a count of requests, and costs
// more than the count.
func (t *telemetry) requestStarted() { t.active.Add(context.Background(), 1, methodPOST...) }
func (t *telemetry) requestEnded()   { t.active.Add(context.Background(), -1, methodPOST...) }

// The options of every span and in-flight count, made once: passed as
// variadic arguments, they would be allocated at each call.
var (
	clientSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}
	methodPOST = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(keyMethod.String("POST")))}
)

// outcomeKey is what the attributes of the attempt metrics depend on.
type outcomeKey struct {
	status    Status
	trigger   Trigger
	code      int
	errorType string
	endpoint  string
}

// recordAttempt counts the completed attempt a, and the duration of its
// request if it made one.
func (t *telemetry) recordAttempt(ctx context.Context, a Attempt, sendErr error) {
	sent := !a.AttemptedAt.IsZero()
	if !t.attempts.Enabled(ctx) && !(sent && t.duration.Enabled(ctx)) {
		return
	}
	k := outcomeKey{status: a.Status, trigger: a.Trigger, code: a.ResponseStatusCode}
	if sent && a.Status != StatusSuccess {
		k.errorType = errorType(a, sendErr)
	}
	var opts outcomeOptions
	if t.cfg.EndpointAttribute {
		k.endpoint = a.EndpointID
		opts = k.options()
	} else if cached, ok := t.sets.Load(k); ok {
		opts = cached.(outcomeOptions)
	} else {
		opts = k.options()
		t.sets.Store(k, opts)
	}
	t.attempts.Add(ctx, 1, opts.counted...)
	if sent {
		t.duration.Record(ctx, a.Duration.Seconds(), opts.timed...)
	}
}

// outcomeOptions are the attribute sets of delivery.attempts and
// http.client.request.duration for one outcome, as the slices their calls
// take.
type outcomeOptions struct {
	counted []metric.AddOption
	timed   []metric.RecordOption
}

// options returns the options of an outcome.
func (k outcomeKey) options() outcomeOptions {
	counted := []attribute.KeyValue{keyAttemptStatus.String(k.status.String()), keyAttemptTrigger.String(string(k.trigger)),
		keyStatusClass.String(statusClass(k.code))}
	timed := []attribute.KeyValue{keyMethod.String("POST")}
	if k.code != 0 {
		timed = append(timed, keyStatusCode.Int(k.code))
	}
	if k.errorType != "" {
		timed = append(timed, keyErrorType.String(k.errorType))
	}
	if k.endpoint != "" {
		counted = append(counted, keyEndpointID.String(k.endpoint))
		timed = append(timed, keyEndpointID.String(k.endpoint))
	}
	return outcomeOptions{
		counted: []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(counted...))},
		timed:   []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(timed...))},
	}
}

// claimed records the size of a claim.
func (t *telemetry) claimed(ctx context.Context, n int) { t.claimSize.Record(ctx, int64(n)) }

// statusClass names the class of an HTTP status code, such as "2xx", or
// "none" when no response arrived.
func statusClass(code int) string {
	if code < 100 || code > 599 {
		return "none"
	}
	return strconv.Itoa(code/100) + "xx"
}

// errorType is the error.type of a failed request: its status code when a
// response arrived, else the kinds of transport error that an operator
// tells apart, and "_OTHER" for the rest, as the semantic conventions ask.
func errorType(a Attempt, sendErr error) string {
	var nerr net.Error
	switch {
	case a.ResponseStatusCode != 0 && sendErr == nil:
		return strconv.Itoa(a.ResponseStatusCode)
	case errors.Is(sendErr, context.DeadlineExceeded) || errors.As(sendErr, &nerr) && nerr.Timeout():
		return "timeout"
	case errors.Is(sendErr, ErrAddressForbidden):
		return "address_forbidden"
	}
	return "_OTHER"
}

// watchQueue registers the callback of the queue and endpoint gauges,
// which ask store at every collection, as of now(); for a Store that keeps
// no health, the endpoint counts come from local. The worker registers it
// while it runs.
func (t *telemetry) watchQueue(store Store, local *localHealth, now func() time.Time) (metric.Registration, error) {
	stats, ok := store.(StatsStore)
	return t.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		at := now()
		var st QueueStats
		if ok {
			var err error
			if st, err = stats.QueueStats(ctx, at); err != nil {
				return fmt.Errorf("queue stats: %w", err)
			}
			o.ObserveInt64(t.due, st.Due)
			lag := 0.0
			if st.Due > 0 && at.After(st.OldestDue) {
				lag = at.Sub(st.OldestDue).Seconds()
			}
			o.ObserveFloat64(t.lag, lag)
		}
		switch {
		case local != nil:
			st = local.counts(at)
		case !ok:
			return nil // neither the store nor this process knows
		}
		o.ObserveInt64(t.endpoints, st.Paused, metric.WithAttributeSet(statePaused))
		o.ObserveInt64(t.endpoints, st.Probing, metric.WithAttributeSet(stateProbing))
		o.ObserveInt64(t.endpoints, st.Disabled, metric.WithAttributeSet(stateDisabled))
		return nil
	}, t.due, t.lag, t.endpoints)
}

var (
	statePaused   = attribute.NewSet(keyEndpointState.String(string(HealthPaused)))
	stateProbing  = attribute.NewSet(keyEndpointState.String(string(HealthProbing)))
	stateDisabled = attribute.NewSet(keyEndpointState.String(string(HealthDisabled)))
)
