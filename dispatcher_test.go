package delivery_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/webhookkit/delivery"
	"github.com/webhookkit/delivery/memstore"
)

// testBundle is what a dispatcher test needs.
type testBundle struct {
	store  *memstore.Store
	d      *delivery.Dispatcher
	logs   *syncBuffer
	secret string
	now    time.Time
}

// syncBuffer is a bytes.Buffer safe for concurrent writes by a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// setup returns a Dispatcher on a memstore with a fixed clock, logging to a
// buffer. change, if not nil, edits the Config first.
func setup(t *testing.T, change func(*delivery.Config)) *testBundle {
	t.Helper()
	b := &testBundle{
		store:  memstore.New(),
		logs:   &syncBuffer{},
		secret: delivery.NewSecret(),
		now:    time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.UTC),
	}
	cfg := &delivery.Config{
		Logger:        slog.New(slog.NewJSONHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:           func() time.Time { return b.now },
		AddressPolicy: loopback,
	}
	if change != nil {
		change(cfg)
	}
	d, err := delivery.NewDispatcher(b.store, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, d.Stop(context.Background())) })
	b.d = d
	return b
}

// receiver starts an httptest server running h, closed when the test ends.
func receiver(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// hang answers nothing until the client goes away. It reads the request
// first: only then does the server notice that the client closed.
func hang(_ http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	<-r.Context().Done()
}

func (b *testBundle) endpoint(url string) delivery.Endpoint {
	return delivery.Endpoint{ID: "ep_1", URL: url, Secrets: []string{b.secret}}
}

var event = delivery.Event{ID: "evt_1", Type: "invoice.paid", Payload: []byte(`{"type":"invoice.paid","data":{"amount":100}}`)}

// requireRecorded checks that the store holds exactly the attempt Deliver
// returned.
func (b *testBundle) requireRecorded(t *testing.T, a delivery.Attempt) {
	t.Helper()
	got, err := b.store.Get(context.Background(), a.ID)
	require.NoError(t, err)
	require.Equal(t, a, got)
}

func TestDeliverSuccess(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	var got *http.Request
	var body []byte
	srv := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(context.Background())
		body, _ = io.ReadAll(r.Body)
		w.Header().Set("X-Receiver", "yes")
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2")
		w.WriteHeader(http.StatusNoContent)
	})
	ep := b.endpoint(srv.URL + "/hooks?tenant=7")
	ep.Headers = map[string]string{"Authorization": "Bearer t0k", "X-Tenant": "7"}

	a, err := b.d.Deliver(context.Background(), event, ep)
	require.NoError(t, err)
	b.requireRecorded(t, a)

	require.Equal(t, delivery.StatusSuccess, a.Status)
	require.Len(t, a.ID, 26)
	require.Equal(t, "evt_1", a.EventID)
	require.Equal(t, "invoice.paid", a.EventType)
	require.Equal(t, "ep_1", a.EndpointID)
	require.Equal(t, ep.URL, a.EndpointURL)
	require.Equal(t, 1, a.AttemptNumber)
	require.Equal(t, delivery.TriggerFirst, a.Trigger)
	require.Equal(t, http.StatusNoContent, a.ResponseStatusCode)
	require.Equal(t, []string{"a=1", "b=2"}, a.ResponseHeaders.Values("Set-Cookie"))
	require.Equal(t, "yes", a.ResponseHeaders.Get("X-Receiver"))
	require.Empty(t, a.Response)
	require.Empty(t, a.Error)
	require.False(t, a.ResponseTruncated)
	require.Positive(t, a.Duration)
	wantTime := b.now.Truncate(time.Microsecond)
	require.Equal(t, wantTime, a.ScheduledAt, "times come from Config.Now, at microsecond precision")
	require.Equal(t, wantTime, a.AttemptedAt)

	require.Equal(t, http.MethodPost, got.Method)
	require.Equal(t, "/hooks?tenant=7", got.URL.RequestURI())
	require.Equal(t, event.Payload, body)
	require.Equal(t, "application/json", got.Header.Get("Content-Type"))
	require.Equal(t, delivery.DefaultUserAgent, got.Header.Get("User-Agent"))
	require.Equal(t, "Bearer t0k", got.Header.Get("Authorization"))
	require.Equal(t, "7", got.Header.Get("X-Tenant"))
	require.Equal(t, "evt_1", got.Header.Get("webhook-id"))
	require.Equal(t, "1778051289", got.Header.Get("webhook-timestamp"))

	v, err := delivery.NewVerifier(b.secret)
	require.NoError(t, err)
	v.Now = func() time.Time { return b.now }
	require.NoError(t, v.Verify(got.Header, body), "the receiver side verifies what Deliver signs")
}

func TestDeliverSignsWithEverySecret(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	sigs := make(chan string, 1)
	srv := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		sigs <- r.Header.Get("webhook-signature")
	})
	ep := b.endpoint(srv.URL)
	old := delivery.NewSecret()
	ep.Secrets = append(ep.Secrets, old)
	_, err := b.d.Deliver(context.Background(), event, ep)
	require.NoError(t, err)
	want, err := delivery.Sign(ep.Secrets, event.ID, b.now, event.Payload)
	require.NoError(t, err)
	require.Equal(t, want, <-sigs)
	require.Len(t, strings.Fields(want), 2)

	ep.ID, ep.Secrets = "ep_unsigned", nil
	_, err = b.d.Deliver(context.Background(), event, ep)
	require.NoError(t, err)
	require.Empty(t, <-sigs, "an endpoint without secrets gets no signature header")
}

func TestDeliverFailures(t *testing.T) {
	t.Parallel()
	const cap = 1024
	tenMB := bytes.Repeat([]byte("x"), 10<<20)
	redirected := atomic.Bool{}
	target := receiver(t, func(http.ResponseWriter, *http.Request) { redirected.Store(true) })

	tests := []struct {
		name      string
		handler   http.HandlerFunc
		code      int
		response  string
		truncated bool
		errPart   string
		retryable bool
		cause     error
		// quick marks the receivers that never answer in time: their
		// attempt gets a short timeout, which must fire. The others get
		// one that never fires first, however loaded the machine.
		quick bool
	}{
		{
			name: "500 with a body",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = io.WriteString(w, "database is down")
			},
			code: 500, response: "database is down", retryable: true,
		},
		{
			name: "400",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				http.Error(w, "bad", http.StatusBadRequest)
			},
			code: 400, response: "bad\n",
		},
		{
			name: "redirect is not followed",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, target.URL, http.StatusFound)
			},
			code: 302, response: "",
		},
		{
			name:    "hangs past the timeout",
			handler: hang,
			errPart: "attempt timed out (limit 300ms)", retryable: true, cause: context.DeadlineExceeded, quick: true,
		},
		{
			name: "drips the body past the timeout",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusOK)
				for {
					_, _ = w.Write([]byte("x"))
					w.(http.Flusher).Flush()
					select {
					case <-r.Context().Done():
						return
					case <-time.After(20 * time.Millisecond):
					}
				}
			},
			code: 200, errPart: "reading response body: attempt timed out", retryable: true, cause: context.DeadlineExceeded, quick: true,
		},
		{
			name: "resets the connection",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				conn, _, err := w.(http.Hijacker).Hijack()
				if err != nil {
					panic(err)
				}
				_ = conn.(*net.TCPConn).SetLinger(0)
				_ = conn.Close()
			},
			errPart: "connection reset", retryable: true,
		},
		{
			name: "returns 10 MB",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusBadGateway)
				_, _ = w.Write(tenMB)
			},
			code: 502, response: strings.Repeat("x", cap), truncated: true, retryable: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(c *delivery.Config) {
				c.Timeout = time.Minute
				if tt.quick {
					c.Timeout = 300 * time.Millisecond
				}
				c.MaxResponseBodySize = cap
			})
			srv := receiver(t, tt.handler)
			a, err := b.d.Deliver(context.Background(), event, b.endpoint(srv.URL))
			require.Error(t, err)
			require.ErrorIs(t, err, delivery.ErrDeliveryFailed)
			var aerr *delivery.AttemptError
			require.ErrorAs(t, err, &aerr)
			require.Equal(t, a.ID, aerr.AttemptID)
			require.Equal(t, "ep_1", aerr.EndpointID)
			require.Equal(t, tt.code, aerr.StatusCode)
			require.Equal(t, tt.retryable, aerr.Next != nil, "a retry is scheduled")
			if tt.cause != nil {
				require.ErrorIs(t, err, tt.cause)
			}
			b.requireRecorded(t, a)
			require.Equal(t, delivery.StatusFailure, a.Status)
			require.Equal(t, tt.code, a.ResponseStatusCode)
			require.Equal(t, tt.truncated, a.ResponseTruncated)
			if tt.errPart == "" {
				require.Equal(t, tt.response, a.Response)
				require.Empty(t, a.Error)
			} else {
				require.Contains(t, a.Error, tt.errPart)
			}
			require.NotContains(t, a.Error, srv.URL, "errors do not quote the URL")
			require.False(t, a.AttemptedAt.IsZero())
		})
	}
	require.False(t, redirected.Load(), "the redirect target was never requested")
}

func TestDeliverConnectionRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	url := "http://" + l.Addr().String() + "/?token=secret-query"
	require.NoError(t, l.Close())

	a, err := b.d.Deliver(context.Background(), event, b.endpoint(url))
	require.ErrorIs(t, err, delivery.ErrDeliveryFailed)
	require.ErrorIs(t, err, syscallECONNREFUSED())
	b.requireRecorded(t, a)
	require.Equal(t, 0, a.ResponseStatusCode)
	require.Nil(t, a.ResponseHeaders)
	require.Contains(t, a.Error, "connection refused")
	require.NotContains(t, a.Error, "secret-query")
	require.NotContains(t, err.Error(), "secret-query")
}

// A 10 MB response costs about the cap and the drain, not 10 MB.
func TestDeliverBoundsMemory(t *testing.T) {
	b := setup(t, nil)
	chunk := bytes.Repeat([]byte("y"), 64<<10)
	srv := receiver(t, func(w http.ResponseWriter, _ *http.Request) {
		for range 160 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	a, err := b.d.Deliver(context.Background(), event, b.endpoint(srv.URL))
	runtime.ReadMemStats(&after)
	require.NoError(t, err, "a 2xx answer is a success, however long")
	require.True(t, a.ResponseTruncated)
	require.Len(t, a.Response, delivery.DefaultMaxResponseBodySize)
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(4<<20), "allocated while reading a 10 MB body")
}

func TestDeliverCanceledContext(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	srv := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		cancel()
		hang(w, r)
	})
	a, err := b.d.Deliver(ctx, event, b.endpoint(srv.URL))
	require.ErrorIs(t, err, delivery.ErrDeliveryFailed)
	require.ErrorIs(t, err, context.Canceled)
	b.requireRecorded(t, a)
	require.Equal(t, delivery.StatusFailure, a.Status, "the outcome is recorded after the caller gave up")
}

func TestDeliverRejectsInput(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *delivery.Config) { c.MaxPayloadSize = 16 })
	var hits atomic.Int32
	srv := receiver(t, func(http.ResponseWriter, *http.Request) { hits.Add(1) })
	good := delivery.Endpoint{ID: "ep_1", URL: srv.URL}
	ev := delivery.Event{ID: "evt_1", Payload: []byte("{}")}

	withEvent := func(f func(*delivery.Event)) func() (delivery.Event, delivery.Endpoint) {
		return func() (delivery.Event, delivery.Endpoint) { e := ev; f(&e); return e, good }
	}
	withEndpoint := func(f func(*delivery.Endpoint)) func() (delivery.Event, delivery.Endpoint) {
		return func() (delivery.Event, delivery.Endpoint) { ep := good; f(&ep); return ev, ep }
	}
	tests := []struct {
		name  string
		input func() (delivery.Event, delivery.Endpoint)
		msg   string
	}{
		{"empty event ID", withEvent(func(e *delivery.Event) { e.ID = "" }), "event ID is empty"},
		{"event ID with LF", withEvent(func(e *delivery.Event) { e.ID = "evt\n1" }), "event ID has a byte 0x0a"},
		{"event ID with space", withEvent(func(e *delivery.Event) { e.ID = "evt 1" }), "not printable ASCII"},
		{"long event ID", withEvent(func(e *delivery.Event) { e.ID = strings.Repeat("e", 256) }), "over the limit of 255"},
		{"event type with CR", withEvent(func(e *delivery.Event) { e.Type = "a\rb" }), "event type has a byte 0x0d"},
		{"payload too large", withEvent(func(e *delivery.Event) { e.Payload = make([]byte, 17) }), "17 bytes, over the limit of 16"},
		{"empty endpoint ID", withEndpoint(func(e *delivery.Endpoint) { e.ID = "" }), "endpoint ID is empty"},
		{"empty URL", withEndpoint(func(e *delivery.Endpoint) { e.URL = "" }), "URL is empty"},
		{"relative URL", withEndpoint(func(e *delivery.Endpoint) { e.URL = "/hooks" }), "scheme must be http or https"},
		{"ftp URL", withEndpoint(func(e *delivery.Endpoint) { e.URL = "ftp://example.com/" }), `not "ftp"`},
		{"no host", withEndpoint(func(e *delivery.Endpoint) { e.URL = "https:///path" }), "URL has no host"},
		{"URL with LF", withEndpoint(func(e *delivery.Endpoint) { e.URL = srv.URL + "/\nx" }), "control character"},
		{"URL with credentials", withEndpoint(func(e *delivery.Endpoint) { e.URL = "https://user:pw@example.com/" }), "user credentials"},
		{"long URL", withEndpoint(func(e *delivery.Endpoint) { e.URL = "https://example.com/" + strings.Repeat("a", 2048) }), "over the limit of 2048"},
		{"header name with LF", withEndpoint(func(e *delivery.Endpoint) { e.Headers = map[string]string{"X-A\nB": "1"} }), "header name"},
		{"header name with colon", withEndpoint(func(e *delivery.Endpoint) { e.Headers = map[string]string{"X-A:": "1"} }), "invalid byte 0x3a"},
		{"empty header name", withEndpoint(func(e *delivery.Endpoint) { e.Headers = map[string]string{"": "1"} }), "header name is empty"},
		{"header value with CRLF", withEndpoint(func(e *delivery.Endpoint) { e.Headers = map[string]string{"X-A": "1\r\nX-Injected: 2"} }), "control byte 0x0d"},
		{"header value with NUL", withEndpoint(func(e *delivery.Endpoint) { e.Headers = map[string]string{"X-A": "1\x00"} }), "control byte 0x00"},
		{"overrides Content-Type", withEndpoint(func(e *delivery.Endpoint) { e.Headers = map[string]string{"content-type": "text/plain"} }), "Content-Type is set by the library"},
		{"overrides Host", withEndpoint(func(e *delivery.Endpoint) { e.Headers = map[string]string{"Host": "evil"} }), "Host is set by the library"},
		{"overrides the signature", withEndpoint(func(e *delivery.Endpoint) { e.Headers = map[string]string{"WEBHOOK-SIGNATURE": "v1,x"} }), "Webhook-Signature is set by the library"},
		{"malformed secret", withEndpoint(func(e *delivery.Endpoint) { e.Secrets = []string{"whsec_***"} }), "secret is not whsec_"},
		{"short secret", withEndpoint(func(e *delivery.Endpoint) { e.Secrets = []string{"whsec_c2hvcnQ="} }), "5-byte key"},
	}
	for _, tt := range tests {
		e, ep := tt.input()
		a, err := b.d.Deliver(context.Background(), e, ep)
		require.ErrorIs(t, err, delivery.ErrInvalidInput, tt.name)
		require.ErrorContains(t, err, tt.msg, tt.name)
		require.Zero(t, a, tt.name)
	}
	page, err := b.store.List(context.Background(), delivery.ListQuery{})
	require.NoError(t, err)
	require.Empty(t, page.Attempts, "bad input stores nothing")
	require.Zero(t, hits.Load(), "bad input sends nothing")
}

// failingStore fails the operations named in its fields.
type failingStore struct {
	*memstore.Store
	insertErr, completeErr error
}

func (s *failingStore) Insert(ctx context.Context, jobs ...delivery.Job) error {
	if s.insertErr != nil {
		return s.insertErr
	}
	return s.Store.Insert(ctx, jobs...)
}

func (s *failingStore) Complete(ctx context.Context, final delivery.Attempt, next *delivery.Job) error {
	if s.completeErr != nil {
		return s.completeErr
	}
	return s.Store.Complete(ctx, final, next)
}

func TestDeliverStoreErrors(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := receiver(t, func(http.ResponseWriter, *http.Request) { hits.Add(1) })
	ep := delivery.Endpoint{ID: "ep_1", URL: srv.URL}
	boom := errors.New("disk full")

	fs := &failingStore{Store: memstore.New(), insertErr: boom}
	d, err := delivery.NewDispatcher(fs, &delivery.Config{AddressPolicy: loopback})
	require.NoError(t, err)
	a, err := d.Deliver(context.Background(), event, ep)
	require.ErrorIs(t, err, boom)
	require.NotErrorIs(t, err, delivery.ErrDeliveryFailed)
	require.Zero(t, a)
	require.Zero(t, hits.Load(), "nothing is sent when the attempt cannot be stored")

	logs := &syncBuffer{}
	fs = &failingStore{Store: memstore.New(), completeErr: boom}
	d, err = delivery.NewDispatcher(fs, &delivery.Config{Logger: slog.New(slog.NewTextHandler(logs, nil)), AddressPolicy: loopback})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, d.Stop(context.Background())) })
	a, err = d.Deliver(context.Background(), event, ep)
	require.ErrorIs(t, err, boom)
	require.Equal(t, delivery.StatusSuccess, a.Status, "the attempt as sent is returned")
	stored, err := fs.Get(context.Background(), a.ID)
	require.NoError(t, err)
	require.Equal(t, delivery.StatusPending, stored.Status, "the stored attempt stays pending, leased, for a worker to settle")
	require.Contains(t, logs.String(), "cannot record attempt")
}

func TestDeliverNeverLogsSecrets(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	srv := receiver(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) })
	ep := b.endpoint(srv.URL + "/?token=query-secret")
	ep.Headers = map[string]string{"Authorization": "Bearer header-secret"}
	a, err := b.d.Deliver(context.Background(), event, ep)
	require.Error(t, err)

	logs := b.logs.String()
	require.Contains(t, logs, a.ID, "the attempt is logged")
	require.Contains(t, logs, `"level":"WARN"`, "a failure is logged as a warning")
	key := strings.TrimPrefix(b.secret, "whsec_")
	for _, s := range []string{key, "query-secret", "header-secret", srv.URL} {
		require.NotContains(t, logs, s)
		require.NotContains(t, err.Error(), s)
	}
	js, _ := a.Status.MarshalText()
	require.Equal(t, "failure", string(js))
	require.NotContains(t, a.Response+a.Error, key)
}

func TestDeliverConcurrentIDsIncrease(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *delivery.Config) { c.Now = nil })
	srv := receiver(t, func(http.ResponseWriter, *http.Request) {})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 10 {
				ev := event
				ev.ID = fmt.Sprintf("evt_%c%d", 'a'+i, j)
				if _, err := b.d.Deliver(context.Background(), ev, b.endpoint(srv.URL)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	page, err := b.store.List(context.Background(), delivery.ListQuery{})
	require.NoError(t, err)
	require.Len(t, page.Attempts, 80)
	for _, a := range page.Attempts {
		require.Equal(t, delivery.StatusSuccess, a.Status)
	}
}

func TestNewDispatcherRejects(t *testing.T) {
	t.Parallel()
	_, err := delivery.NewDispatcher(nil, nil)
	require.ErrorIs(t, err, delivery.ErrInvalidInput)
	for _, cfg := range []delivery.Config{
		{Timeout: -time.Second},
		{MaxPayloadSize: delivery.MaxBodySize + 1},
		{MaxResponseBodySize: delivery.MaxBodySize + 1},
	} {
		_, err = delivery.NewDispatcher(memstore.New(), &cfg)
		require.ErrorIs(t, err, delivery.ErrInvalidInput, "%+v", cfg)
	}
	_, err = delivery.NewDispatcher(memstore.New(), &delivery.Config{MaxPayloadSize: delivery.MaxBodySize, MaxResponseBodySize: delivery.MaxBodySize})
	require.NoError(t, err)
}

// roundTripFunc is a host's transport, in a test.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// The Dispatcher bounds every field it records to the sizes every Store
// must hold, whatever a host's own client hands it: the error message and
// the response headers.
func TestDeliverBoundsRecordedFields(t *testing.T) {
	t.Parallel()
	huge := http.Header{}
	for i := range 300 {
		huge.Set(fmt.Sprintf("X-H-%03d", i), strings.Repeat("v", 1000))
	}
	longErr := errors.New(strings.Repeat("é", delivery.MaxErrorLength))
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Header.Get(delivery.HeaderID) == "evt_err" {
			return nil, longErr
		}
		return &http.Response{StatusCode: 200, Header: huge.Clone(), Body: http.NoBody, Request: r}, nil
	})}
	b := setup(t, func(c *delivery.Config) { c.HTTPClient = client })

	ev := event
	ev.ID = "evt_err"
	a, err := b.d.Deliver(context.Background(), ev, b.endpoint("https://example.com/"))
	require.ErrorIs(t, err, delivery.ErrDeliveryFailed)
	require.LessOrEqual(t, len(a.Error), delivery.MaxErrorLength)
	require.True(t, utf8.ValidString(a.Error), "cut at a character boundary")
	require.True(t, strings.HasPrefix(a.Error, "éé"))
	b.requireRecorded(t, a)

	ev.ID = "evt_headers"
	a, err = b.d.Deliver(context.Background(), ev, b.endpoint("https://example.com/"))
	require.NoError(t, err)
	size := 0
	for name, values := range a.ResponseHeaders {
		for _, v := range values {
			size += len(name) + len(v)
		}
	}
	require.LessOrEqual(t, size, delivery.MaxResponseHeaderBytes)
	require.Greater(t, size, delivery.MaxResponseHeaderBytes-2000, "as many as fit")
	require.Contains(t, a.ResponseHeaders, "X-H-000", "the first names are kept")
	require.NotContains(t, a.ResponseHeaders, "X-H-299")
	b.requireRecorded(t, a)
}

func TestDeliverHostClient(t *testing.T) {
	t.Parallel()
	var followed atomic.Bool
	final := receiver(t, func(http.ResponseWriter, *http.Request) { followed.Store(true) })
	srv := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, final.URL, http.StatusTemporaryRedirect)
	})
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	b := setup(t, func(c *delivery.Config) { c.HTTPClient = client; c.UserAgent = "acme-hooks/2" })
	a, err := b.d.Deliver(context.Background(), event, b.endpoint(srv.URL))
	require.NoError(t, err, "a host's client follows redirects if it says so")
	require.True(t, followed.Load())
	require.Equal(t, delivery.StatusSuccess, a.Status)
}
