package sqlstore_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/webhookkit/delivery"
)

// workerSpan is what testdata/worker prints of each span it recorded.
type workerSpan struct {
	Name         string            `json:"name"`
	TraceID      string            `json:"trace_id"`
	SpanID       string            `json:"span_id"`
	ParentSpanID string            `json:"parent_span_id"`
	ParentRemote bool              `json:"parent_remote"`
	Attributes   map[string]string `json:"attributes"`
}

// The trace context of the code that enqueues travels through the database
// to a worker in another OS process: every HTTP try the worker makes, the
// retry included, is a span in the business request's trace, a child of
// the span that enqueued, and names the attempt it recorded.
func TestTraceAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a worker process")
	}
	bin, err := buildWorker()
	require.NoError(t, err)
	for name, setup := range processEngines(t, true, "postgres", "mysql") {
		t.Run(name, func(t *testing.T) {
			env := setup(t)
			ctx := context.Background()

			// The receiver fails each delivery's first request, so that
			// every attempt has a retry.
			var mu sync.Mutex
			seen := map[string]bool{}
			var traceHeaders []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				key := r.Header.Get("webhook-id") + r.URL.Path
				traceHeaders = append(traceHeaders, r.Header.Get("traceparent"))
				if !seen[key] {
					seen[key] = true
					w.WriteHeader(http.StatusServiceUnavailable)
				}
			}))
			defer srv.Close()

			recorder := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
			d, err := delivery.NewDispatcher(env.store, &delivery.Config{Telemetry: delivery.Telemetry{TracerProvider: tp}})
			require.NoError(t, err)
			bctx, business := tp.Tracer("host").Start(ctx, "business")
			eps := []delivery.Endpoint{{ID: "ep_0", URL: srv.URL + "/ep_0"}, {ID: "ep_1", URL: srv.URL + "/ep_1"}}
			for _, id := range []string{"evt_a", "evt_b"} {
				_, err := d.EnqueueMany(bctx, delivery.Event{ID: id, Type: "t", Payload: []byte(`{}`)}, eps, nil)
				require.NoError(t, err)
			}
			business.End()
			runCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(runCtx, bin, "-driver", env.driver, "-dsn", env.dsn, "-prefix", env.store.TablePrefix(),
				"-receiver", srv.URL, "-exit-when-idle", "-spans")
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, os.Stderr
			require.NoError(t, cmd.Run())

			var spans []workerSpan
			sc := bufio.NewScanner(&out)
			for sc.Scan() {
				var s workerSpan
				require.NoError(t, json.Unmarshal(sc.Bytes(), &s), "line %q", sc.Text())
				spans = append(spans, s)
			}
			require.NoError(t, sc.Err())

			page, err := env.store.List(ctx, delivery.ListQuery{Limit: delivery.MaxListLimit})
			require.NoError(t, err)
			require.Len(t, page.Attempts, 8, "two deliveries to each of two endpoints, each tried twice")
			require.Len(t, spans, len(page.Attempts), "one span for each try")
			byAttempt := map[string]workerSpan{}
			for _, s := range spans {
				byAttempt[s.Attributes["delivery.attempt.id"]] = s
			}
			for _, a := range page.Attempts {
				s, ok := byAttempt[a.ID]
				require.True(t, ok, "attempt %s (%s to %s, try %d) has a span", a.ID, a.EventID, a.EndpointID, a.AttemptNumber)
				require.Equal(t, "POST", s.Name)
				require.Equal(t, business.SpanContext().TraceID().String(), s.TraceID, "attempt %s is in the business trace", a.ID)
				require.Equal(t, business.SpanContext().SpanID().String(), s.ParentSpanID, "attempt %s is a child of the span that enqueued", a.ID)
				require.True(t, s.ParentRemote, "the parent came from another process")
				require.Equal(t, a.EventID, s.Attributes["delivery.event.id"])
				require.Equal(t, a.EndpointID, s.Attributes["delivery.endpoint.id"])
				if a.AttemptNumber == 1 {
					require.Equal(t, delivery.StatusFailure, a.Status)
					require.Equal(t, "503", s.Attributes["error.type"])
				} else {
					require.Equal(t, delivery.StatusSuccess, a.Status)
					require.Equal(t, "1", s.Attributes["http.request.resend_count"])
				}
			}
			require.Len(t, recorder.Ended(), 1, "the enqueuing process made no span but the business one")
			mu.Lock()
			defer mu.Unlock()
			for _, h := range traceHeaders {
				require.Empty(t, h, "no trace context reaches the receiver by default")
			}
		})
	}
}
