package delivery_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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
		a := delivery.Attempt{ID: fmt.Sprintf("%026d", i), EventID: "evt_1", EndpointID: "ep_1", EndpointURL: "https://example.com/",
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
