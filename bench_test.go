package delivery_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookkit/delivery"
	"github.com/webhookkit/delivery/memstore"
)

var benchPayload = bytes.Repeat([]byte("x"), 1024)

func BenchmarkSign(b *testing.B) {
	secrets := []string{delivery.NewSecret()}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := delivery.Sign(secrets, "evt_1", now, benchPayload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	secret := delivery.NewSecret()
	v, err := delivery.NewVerifier(secret)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	sig, _ := delivery.Sign([]string{secret}, "evt_1", now, benchPayload)
	h := http.Header{}
	h.Set(delivery.HeaderID, "evt_1")
	h.Set(delivery.HeaderTimestamp, fmt.Sprint(now.Unix()))
	h.Set(delivery.HeaderSignature, sig)
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Verify(h, benchPayload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMemstoreInsertComplete is the store's share of one delivery.
func BenchmarkMemstoreInsertComplete(b *testing.B) {
	s := memstore.New()
	ctx := context.Background()
	now := time.Now().UTC()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		a := delivery.Attempt{ID: fmt.Sprintf("%026d", i), EventID: fmt.Sprintf("evt_%d", i), EndpointID: "ep_1", EndpointURL: "https://example.com/",
			Status: delivery.StatusPending, AttemptNumber: 1, Trigger: delivery.TriggerFirst, ScheduledAt: now}
		if err := s.Insert(ctx, delivery.Job{Attempt: a, Payload: benchPayload}); err != nil {
			b.Fatal(err)
		}
		a.Status, a.ResponseStatusCode, a.AttemptedAt = delivery.StatusSuccess, 200, now
		if err := s.Complete(ctx, a, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDelivery compares Deliver on memstore with a bare POST of the
// same payload to the same in-process receiver. The ratio is indicative
// only: receiver and sender share the machine's cores.
func BenchmarkDelivery(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	defer delivery.DefaultClient.CloseIdleConnections()
	b.Run("bare-post", func(b *testing.B) {
		client := &http.Client{}
		defer client.CloseIdleConnections()
		b.ReportAllocs()
		for b.Loop() {
			resp, err := client.Post(srv.URL, "application/json", bytes.NewReader(benchPayload))
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	b.Run("deliver-memstore", func(b *testing.B) {
		d, err := delivery.NewDispatcher(memstore.New(), &delivery.Config{AddressPolicy: loopback})
		if err != nil {
			b.Fatal(err)
		}
		defer d.Stop(context.Background())
		ep := delivery.Endpoint{ID: "ep_1", URL: srv.URL, Secrets: []string{delivery.NewSecret()}}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			if _, err := d.Deliver(context.Background(), delivery.Event{ID: fmt.Sprintf("evt_%d", i), Payload: benchPayload}, ep); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkWorker is the worker's cost per attempt without network: it
// drains b.N enqueued deliveries from memstore through a transport that
// answers 204 at once.
func BenchmarkWorker(b *testing.B) {
	s := memstore.New()
	ctx := context.Background()
	secret := delivery.NewSecret()
	tr := &answer204{want: int64(b.N), done: make(chan struct{})}
	d, err := delivery.NewDispatcher(s, &delivery.Config{
		HTTPClient:  &http.Client{Transport: tr},
		Workers:     100,
		PerEndpoint: 100,
		LookupEndpoint: func(_ context.Context, id string) (delivery.Endpoint, error) {
			return delivery.Endpoint{ID: id, URL: "https://example.com/" + id, Secrets: []string{secret}}, nil
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	for i := range b.N {
		ep := fmt.Sprintf("ep_%d", i%10)
		ev := delivery.Event{ID: fmt.Sprintf("evt_%d", i), Payload: benchPayload}
		if _, err := d.Enqueue(ctx, ev, delivery.Endpoint{ID: ep, URL: "https://example.com/" + ep, Secrets: []string{secret}}, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	if err := d.Start(ctx); err != nil {
		b.Fatal(err)
	}
	<-tr.done
	// Stop waits for the last attempts to be recorded.
	if err := d.Stop(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	page, err := s.List(ctx, delivery.ListQuery{Statuses: []delivery.Status{delivery.StatusPending}, Limit: 1})
	if err != nil || len(page.Attempts) > 0 {
		b.Fatalf("attempts left pending (%v): %v", err, page.Attempts)
	}
}

// answer204 answers every request with 204 No Content, sending nothing,
// and closes done once it has answered want.
type answer204 struct {
	want int64
	n    atomic.Int64
	done chan struct{}
}

func (t *answer204) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
	if t.n.Add(1) == t.want {
		close(t.done)
	}
	return &http.Response{StatusCode: http.StatusNoContent, Status: "204 No Content", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: http.NoBody, Request: req}, nil
}
