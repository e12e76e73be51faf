package storetest_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/webhookkit/delivery"
	"github.com/webhookkit/delivery/memstore"
	"github.com/webhookkit/delivery/storetest"
)

// brokenStores each break one contract of delivery.Store, and name the
// subtests of the suite that must catch it.
var brokenStores = map[string]struct {
	store    func() delivery.Store
	catchers []string
}{
	"final attempts change": {
		func() delivery.Store { return &swallowsNotPending{memstore.New()} },
		[]string{"CompleteOnce", "ConcurrentCompletions", "FinalNeverChanges"},
	},
	"wrong sentinel": {
		func() delivery.Store { return &plainNotFound{memstore.New()} },
		[]string{"GetNotFound"},
	},
	"loses header values": {
		func() delivery.Store { return &firstHeaderOnly{memstore.New()} },
		[]string{"RoundTrip"},
	},
	"millisecond times": {
		func() delivery.Store { return &millisecondTimes{memstore.New()} },
		[]string{"RoundTrip"},
	},
	"overlapping pages": {
		func() delivery.Store { return &overlappingPages{memstore.New()} },
		[]string{"ListPaging", "PagingDuringInserts"},
	},
	"leases ignored": {
		func() delivery.Store { return &ignoresLeases{memstore.New()} },
		[]string{"ClaimLeases", "ConcurrentClaims"},
	},
}

const brokenEnv = "STORETEST_BROKEN_STORE"

// TestBrokenStore runs the suite on one broken store, in a child process of
// TestSuiteCatchesBrokenStores.
func TestBrokenStore(t *testing.T) {
	name := os.Getenv(brokenEnv)
	if name == "" {
		t.Skip("runs only as a child process of TestSuiteCatchesBrokenStores")
	}
	storetest.Run(t, func(*testing.T) delivery.Store { return brokenStores[name].store() })
}

// The suite is only as good as the broken stores it fails: each must fail
// the subtests that check the contract it breaks.
func TestSuiteCatchesBrokenStores(t *testing.T) {
	t.Parallel()
	for name, broken := range brokenStores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenStore$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), brokenEnv+"="+name)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit, "the suite passed a store whose %s:\n%s", name, out)
			for _, sub := range broken.catchers {
				require.Contains(t, string(out), "--- FAIL: TestBrokenStore/"+sub+" ", "subtest %s did not catch a store whose %s", sub, name)
			}
		})
	}
}

type swallowsNotPending struct{ *memstore.Store }

func (s *swallowsNotPending) Complete(ctx context.Context, final delivery.Attempt, next *delivery.Job) error {
	if err := s.Store.Complete(ctx, final, next); !errors.Is(err, delivery.ErrNotPending) {
		return err
	}
	return nil
}

type plainNotFound struct{ *memstore.Store }

func (s *plainNotFound) Get(ctx context.Context, id string) (delivery.Attempt, error) {
	a, err := s.Store.Get(ctx, id)
	if errors.Is(err, delivery.ErrNotFound) {
		return a, errors.New("no such attempt")
	}
	return a, err
}

type firstHeaderOnly struct{ *memstore.Store }

func (s *firstHeaderOnly) Get(ctx context.Context, id string) (delivery.Attempt, error) {
	a, err := s.Store.Get(ctx, id)
	if a.ResponseHeaders != nil {
		h := http.Header{}
		for k, v := range a.ResponseHeaders {
			h[k] = v[:1]
		}
		a.ResponseHeaders = h
	}
	return a, err
}

type millisecondTimes struct{ *memstore.Store }

func (s *millisecondTimes) Get(ctx context.Context, id string) (delivery.Attempt, error) {
	a, err := s.Store.Get(ctx, id)
	a.ScheduledAt = a.ScheduledAt.Truncate(time.Millisecond)
	a.AttemptedAt = a.AttemptedAt.Truncate(time.Millisecond)
	return a, err
}

type overlappingPages struct{ *memstore.Store }

func (s *overlappingPages) List(ctx context.Context, q delivery.ListQuery) (delivery.Page, error) {
	p, err := s.Store.List(ctx, q)
	if p.Next != "" && len(p.Attempts) > 1 {
		p.Next = p.Attempts[len(p.Attempts)-2].ID
	}
	return p, err
}

type ignoresLeases struct{ *memstore.Store }

func (s *ignoresLeases) Claim(ctx context.Context, req delivery.ClaimRequest) ([]delivery.Job, error) {
	jobs, err := s.Store.Claim(ctx, req)
	for _, j := range jobs {
		_ = s.Store.Release(ctx, req.Owner, j.Attempt.ID)
	}
	return jobs, err
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
