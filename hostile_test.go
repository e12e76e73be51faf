package delivery_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/webhookkit/delivery"
	"github.com/webhookkit/delivery/memstore"
)

// Receivers that misbehave on purpose. Each attempt ends as a recorded
// failure, and costs bounded memory. The receivers whose attempt must end
// at Config.Timeout never finish their answer, however fast or slow the
// machine; the others fail by themselves, and get a timeout long enough
// never to fire first. The test and its subtests run alone, so that the
// allocation count is theirs.
func TestHostileReceivers(t *testing.T) {
	// deadline is the timeout of the attempts that must end at it.
	const deadline = 500 * time.Millisecond
	tests := []struct {
		name string
		// url starts a receiver and returns its URL.
		url     func(t *testing.T) string
		errPart string
		code    int
		retried bool
		// timeout is Config.Timeout: deadline, or a minute for receivers
		// that fail by themselves.
		timeout time.Duration
	}{
		{
			name: "drips a header that never ends",
			url: func(t *testing.T) string {
				return rawServer(t, func(c net.Conn) {
					if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Drip: "); err != nil {
						return
					}
					for {
						if _, err := c.Write([]byte{'.'}); err != nil {
							return // the client hung up at its deadline
						}
						time.Sleep(50 * time.Millisecond)
					}
				})
			},
			errPart: "attempt timed out", retried: true, timeout: deadline,
		},
		{
			name: "sends 1 GB",
			url: func(t *testing.T) string {
				chunk := make([]byte, 64<<10)
				return receiver(t, func(w http.ResponseWriter, _ *http.Request) {
					w.WriteHeader(http.StatusBadGateway)
					for range (1 << 30) / len(chunk) {
						if _, err := w.Write(chunk); err != nil {
							return // the client hung up: good
						}
					}
					t.Error("the receiver sent the whole gigabyte")
				}).URL
			},
			code: 502, retried: true, timeout: time.Minute,
		},
		{
			name: "sends 10,000 headers",
			url: func(t *testing.T) string {
				return receiver(t, func(w http.ResponseWriter, _ *http.Request) {
					for i := range 10000 {
						w.Header().Set(fmt.Sprintf("X-Header-%05d", i), "value")
					}
				}).URL
			},
			errPart: "server response headers exceeded", retried: true, timeout: time.Minute,
		},
		{
			name: "sends a 1 MB header",
			url: func(t *testing.T) string {
				return receiver(t, func(w http.ResponseWriter, _ *http.Request) {
					w.Header().Set("X-Huge", strings.Repeat("h", 1<<20))
				}).URL
			},
			errPart: "server response headers exceeded", retried: true, timeout: time.Minute,
		},
		{
			name: "never accepts the connection",
			url: func(t *testing.T) string {
				l, err := net.Listen("tcp", "127.0.0.1:0")
				require.NoError(t, err)
				t.Cleanup(func() { _ = l.Close() })
				return "http://" + l.Addr().String() + "/"
			},
			errPart: "attempt timed out", retried: true, timeout: deadline,
		},
		{
			name: "fails TLS",
			url: func(t *testing.T) string {
				srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
				srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake failure is the point
				t.Cleanup(srv.Close)
				return srv.URL
			},
			errPart: "certificate", retried: false, timeout: time.Minute,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := setup(t, func(c *delivery.Config) {
				c.Timeout = tt.timeout
				c.MaxResponseBodySize = 1024
			})
			u := tt.url(t)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			a, err := b.d.Deliver(context.Background(), event, b.endpoint(u))
			elapsed := time.Since(start)
			runtime.ReadMemStats(&after)
			require.ErrorIs(t, err, delivery.ErrDeliveryFailed)
			b.requireRecorded(t, a)
			require.Equal(t, delivery.StatusFailure, a.Status)
			require.Equal(t, tt.code, a.ResponseStatusCode)
			if tt.errPart != "" {
				require.Contains(t, a.Error, tt.errPart)
			}
			var aerr *delivery.AttemptError
			require.ErrorAs(t, err, &aerr)
			require.Equal(t, tt.retried, aerr.Next != nil, "retried")
			// A bound on a hang, not on speed: the receivers that never
			// finish would hold the attempt forever without the deadline.
			require.Less(t, elapsed, tt.timeout+time.Minute, "the attempt ends at its deadline, not when the receiver pleases")
			require.LessOrEqual(t, len(a.Response), 1024)
			require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(16<<20), "memory stays bounded")
		})
	}
}

// rawServer accepts connections on 127.0.0.1 and hands each, after reading
// the request head, to serve.
func rawServer(t *testing.T, serve func(net.Conn)) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	t.Cleanup(func() {
		_ = l.Close()
		<-done
	})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			func() {
				defer c.Close()
				r := bufio.NewReader(c)
				if _, err := http.ReadRequest(r); err != nil {
					return
				}
				serve(c)
			}()
		}
	}()
	return "http://" + l.Addr().String() + "/"
}

// Endpoint URL and header validation never panics, and what it accepts is
// safe to send: an http(s) URL without credentials, and headers without
// control bytes that do not override the library's own.
func FuzzValidateEndpoint(f *testing.F) {
	f.Add("https://example.com/hook?x=1", "X-Tenant", "7")
	f.Add("http://user:pw@example.com/", "Authorization", "Bearer x")
	f.Add("javascript:alert(1)", "Content-Type", "text/plain")
	f.Add("https://example.com/\r\nHost: evil", "X-A\r\nB", "1\r\n2")
	f.Add("HTTPS://EXAMPLE.COM", "webhook-id", "x")
	d, err := delivery.NewDispatcher(memstore.New(), nil)
	require.NoError(f, err)
	var events atomic.Int64
	f.Fuzz(func(t *testing.T, rawURL, name, value string) {
		ep := delivery.Endpoint{ID: "ep_1", URL: rawURL, Headers: map[string]string{name: value}}
		// Each input its own event: an event is enqueued to an endpoint once.
		_, err := d.Enqueue(context.Background(), delivery.Event{ID: fmt.Sprintf("evt_%d", events.Add(1))}, ep, nil)
		if err != nil {
			require.ErrorIs(t, err, delivery.ErrInvalidInput)
			return
		}
		lower := strings.ToLower(rawURL)
		require.True(t, strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://"), rawURL)
		u, err := url.Parse(rawURL)
		require.NoError(t, err)
		require.Nil(t, u.User, "credentials got through: %q", rawURL)
		require.NotEmpty(t, u.Hostname())
		require.False(t, strings.ContainsAny(rawURL+name+value, "\r\n\x00"), "a control byte got through")
		canonical := http.CanonicalHeaderKey(name)
		require.False(t, strings.HasPrefix(canonical, "Webhook-") || canonical == "Content-Type" || canonical == "Host", "%q overrides a library header", name)
	})
}

// Status unmarshalling never panics, and what it accepts marshals back to
// the canonical word.
func FuzzStatusUnmarshal(f *testing.F) {
	for _, s := range []string{`"success"`, `"CANCELLED"`, `2`, `"pending"`, `-1`, `"x"`, `null`, `1e3`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s delivery.Status
		if err := json.Unmarshal(data, &s); err != nil {
			return
		}
		require.True(t, s.Valid())
		out, err := json.Marshal(s)
		require.NoError(t, err)
		var back delivery.Status
		require.NoError(t, json.Unmarshal(out, &back))
		require.Equal(t, s, back)
	})
}
