package delivery

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// BenchmarkNewRequest builds the signed request of one attempt.
func BenchmarkNewRequest(b *testing.B) {
	d, err := NewDispatcher(noStore{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	ep := Endpoint{ID: "ep_1", URL: "https://example.com/webhooks", Secrets: []string{NewSecret()}}
	keys, err := ep.validate()
	if err != nil {
		b.Fatal(err)
	}
	job := Job{Attempt: Attempt{ID: "01J0000000000000000000000", EventID: "evt_1", EndpointID: ep.ID, EndpointURL: ep.URL},
		Payload: bytes.Repeat([]byte("x"), 1024)}
	ctx := context.Background()
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.newRequest(ctx, job, ep, keys, now); err != nil {
			b.Fatal(err)
		}
	}
}

// noStore is a Store for tests that never reach it.
type noStore struct{ Store }
