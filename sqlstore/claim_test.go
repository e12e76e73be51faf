package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/webhookkit/delivery"
	"github.com/webhookkit/delivery/sqlstore"
)

// A claim whose locking read skips a due attempt that another transaction
// holds for the moment leaves the endpoint its turn: once the holder lets
// go, the next claim takes the attempt, without an insert or a completion
// to bring the endpoint back. On MySQL a neighbouring endpoint's claim
// holds such a row, the first past its own range of the queue index.
// SQLite has no row locks.
func TestClaimAfterSkippedRow(t *testing.T) {
	for _, e := range engines(t) {
		if e.dsn == "" {
			continue
		}
		for _, c := range []struct {
			name string
			due  int // attempts due, of which the first is held
		}{
			{"the only due attempt held", 1},
			{"the first of three held", 3},
		} {
			t.Run(e.name+"/"+c.name, func(t *testing.T) {
				ctx := context.Background()
				db := e.open(t)
				s := newStore(t, db)
				var attempts []delivery.Attempt
				for range c.due {
					a := attempt("evt_held")
					require.NoError(t, s.Insert(ctx, delivery.Job{Attempt: a, Payload: []byte(`{}`)}))
					attempts = append(attempts, a)
				}
				held := attempts[0]
				now := held.ScheduledAt.Add(time.Second)
				req := delivery.ClaimRequest{Owner: "w1", Now: now, Until: now.Add(time.Minute), Limit: 4, PerEndpoint: 4}

				tx, err := db.BeginTx(ctx, nil)
				require.NoError(t, err)
				lock := "SELECT id FROM " + s.TablePrefix() + "attempts WHERE id = ? FOR UPDATE"
				if e.dialect == sqlstore.Postgres {
					lock = "SELECT id FROM " + s.TablePrefix() + "attempts WHERE id = $1 FOR UPDATE"
				}
				var id string
				require.NoError(t, tx.QueryRowContext(ctx, lock, held.ID).Scan(&id))
				jobs, err := s.Claim(ctx, req)
				require.NoError(t, err)
				require.Len(t, jobs, c.due-1, "the held attempt is skipped, the others taken")
				for _, j := range jobs {
					require.NotEqual(t, held.ID, j.Attempt.ID)
				}
				require.NoError(t, tx.Rollback())

				jobs, err = s.Claim(ctx, req)
				require.NoError(t, err)
				require.Len(t, jobs, 1, "the endpoint kept its turn")
				require.Equal(t, held.ID, jobs[0].Attempt.ID)
			})
		}
	}
}

// A claim shares its Limit out between the endpoints at the head of the
// line as delivery.Store allows it to: on SQLite each endpoint in one
// piece, up to its room, then the next; on PostgreSQL and MySQL one
// attempt at a time round them. An endpoint left unserved keeps its place
// at the head of the line.
func TestClaimSharesLimitOut(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			ctx := context.Background()
			s := newStore(t, e.open(t))
			byEndpoint := map[string][]delivery.Attempt{}
			for i, ep := range []string{"ep_1", "ep_2", "ep_3"} {
				for range 3 {
					a := attempt("evt_" + ep)
					a.EndpointID = ep
					a.ScheduledAt = a.ScheduledAt.Add(time.Duration(i) * time.Second)
					require.NoError(t, s.Insert(ctx, delivery.Job{Attempt: a, Payload: []byte(`{}`)}))
					byEndpoint[ep] = append(byEndpoint[ep], a)
				}
			}
			now := byEndpoint["ep_3"][0].ScheduledAt.Add(time.Second)
			req := delivery.ClaimRequest{Owner: "w1", Now: now, Until: now.Add(time.Minute), Limit: 4, PerEndpoint: 3}
			jobs, err := s.Claim(ctx, req)
			require.NoError(t, err)
			got := map[string]int{}
			for _, j := range jobs {
				got[j.Attempt.EndpointID]++
			}
			want := map[string]int{"ep_1": 2, "ep_2": 1, "ep_3": 1}
			if e.dialect == sqlstore.SQLite {
				want = map[string]int{"ep_1": 3, "ep_2": 1}
			}
			require.Equal(t, want, got)

			// The next claim serves first the endpoint left unserved, on
			// SQLite; elsewhere all three were served, and went behind in
			// the order of their IDs.
			req.Limit = 1
			jobs, err = s.Claim(ctx, req)
			require.NoError(t, err)
			require.Len(t, jobs, 1)
			next := "ep_1"
			if e.dialect == sqlstore.SQLite {
				next = "ep_3"
			}
			require.Equal(t, next, jobs[0].Attempt.EndpointID)
		})
	}
}
