package sqlstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/webhookkit/delivery"
	"github.com/webhookkit/delivery/sqlstore"
)

// BenchmarkInsertComplete is the store's share of one delivery, on each
// engine whose DSN is set.
func BenchmarkInsertComplete(b *testing.B) {
	for _, e := range engines(b) {
		b.Run(e.name, func(b *testing.B) {
			s := newStore(b, e.open(b))
			ctx := context.Background()
			payload := make([]byte, 1024)
			b.ReportAllocs()
			for b.Loop() {
				a := attempt("evt_1")
				if err := s.Insert(ctx, delivery.Job{Attempt: a, Payload: payload}); err != nil {
					b.Fatal(err)
				}
				a.Status, a.ResponseStatusCode, a.AttemptedAt = delivery.StatusSuccess, 200, time.Now().UTC().Truncate(time.Microsecond)
				if err := s.Complete(ctx, a, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkInsertCompleteParallel is BenchmarkInsertComplete from 64
// goroutines, with group commit and with a transaction a write: the ratio
// of the two is what group commit saves.
func BenchmarkInsertCompleteParallel(b *testing.B) {
	for _, e := range engines(b) {
		for _, mode := range []struct {
			name        string
			groupCommit int
		}{{"shared", sqlstore.DefaultGroupCommit}, {"alone", 1}} {
			b.Run(e.name+"/"+mode.name, func(b *testing.B) {
				s := newGroupCommitStore(b, serverPool(e.open(b), e), mode.groupCommit)
				ctx := context.Background()
				payload := make([]byte, 1024)
				b.SetParallelism(32)
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						a := attempt("evt_1")
						if err := s.Insert(ctx, delivery.Job{Attempt: a, Payload: payload}); err != nil {
							b.Error(err)
							return
						}
						a.Status, a.ResponseStatusCode, a.AttemptedAt = delivery.StatusSuccess, 200, time.Now().UTC().Truncate(time.Microsecond)
						if err := s.Complete(ctx, a, nil); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

// BenchmarkClaim claims batches of 100 from a backlog, on each engine.
func BenchmarkClaim(b *testing.B) {
	for _, e := range engines(b) {
		b.Run(e.name, func(b *testing.B) {
			s := newStore(b, e.open(b))
			ctx := context.Background()
			jobs := make([]delivery.Job, 1000)
			for i := range jobs {
				jobs[i] = delivery.Job{Attempt: attempt(fmt.Sprintf("evt_%d", i)), Payload: []byte("{}")}
			}
			if err := s.Insert(ctx, jobs...); err != nil {
				b.Fatal(err)
			}
			now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			b.ReportAllocs()
			for b.Loop() {
				// Leases of one second: each round claims the next batch,
				// then the time moves past them.
				now = now.Add(2 * time.Second)
				got, err := s.Claim(ctx, delivery.ClaimRequest{Owner: "bench", Now: now, Until: now.Add(time.Second), Limit: 100})
				if err != nil || len(got) != 100 {
					b.Fatalf("claimed %d: %v", len(got), err)
				}
			}
		})
	}
}
