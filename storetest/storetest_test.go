package storetest_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"sync"
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
	"list ordered by schedule": {
		func() delivery.Store { return &listsBySchedule{memstore.New()} },
		[]string{"ListOrder"},
	},
	"attempted to closed": {
		func() delivery.Store { return &attemptedToClosed{memstore.New()} },
		[]string{"ListFilters"},
	},
	"attempted from open": {
		func() delivery.Store { return &attemptedFromOpen{memstore.New()} },
		[]string{"ListFilters"},
	},
	"newest first ignored": {
		func() delivery.Store { return &ignoresDescending{memstore.New()} },
		[]string{"ListNewest"},
	},
	"event type ignored": {
		func() delivery.Store { return &ignoresEventType{memstore.New()} },
		[]string{"ListNewest"},
	},
	"activity buckets end closed": {
		func() delivery.Store { return &closedBuckets{memstore.New()} },
		[]string{"Activity"},
	},
	"payload kept per attempt": {
		func() delivery.Store { return &payloadPerAttempt{Store: memstore.New()} },
		[]string{"Event", "ConcurrentEvent", "CompleteWithNext"},
	},
	"event from the last insert": {
		func() delivery.Store { return &eventOfLastInsert{Store: memstore.New()} },
		[]string{"Event"},
	},
	"cancel forgotten on takeover": {
		func() delivery.Store { return &forgetsCancelOnTakeover{Store: memstore.New()} },
		[]string{"CancelSurvivesTakeover"},
	},
	"release erases the reclaimed mark": {
		func() delivery.Store { return &releaseErasesMark{Store: memstore.New()} },
		[]string{"ReleaseKeepsReclaimed"},
	},
	"context ignored": {
		func() delivery.Store { return &ignoresContext{memstore.New()} },
		[]string{"CanceledContext"},
	},
	"plain precondition errors": {
		func() delivery.Store { return &plainPreconditions{memstore.New()} },
		[]string{"Preconditions"},
	},
	"per-endpoint limit ignored": {
		func() delivery.Store { return &ignoresPerEndpoint{memstore.New()} },
		[]string{"FairClaims", "ConcurrentFairClaims"},
	},
	"health forgotten": {
		func() delivery.Store { return &forgetsHealth{memstore.New()} },
		[]string{"Health"},
	},
	"pause ignored": {
		func() delivery.Store { return &ignoresPause{memstore.New()} },
		[]string{"HealthPause", "HealthProbe"},
	},
	"probe unmarked": {
		func() delivery.Store { return &unmarkedProbe{memstore.New()} },
		[]string{"HealthProbe"},
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

// listsBySchedule pages by schedule instead of ID, with the ID cursor.
type listsBySchedule struct{ *memstore.Store }

func (s *listsBySchedule) List(ctx context.Context, q delivery.ListQuery) (delivery.Page, error) {
	limit := q.PageLimit()
	all := q
	all.After, all.Limit = "", delivery.MaxListLimit
	p, err := s.Store.List(ctx, all)
	if err != nil {
		return p, err
	}
	var kept []delivery.Attempt
	for _, a := range p.Attempts {
		if a.ID > q.After {
			kept = append(kept, a)
		}
	}
	slices.SortStableFunc(kept, func(a, b delivery.Attempt) int { return a.ScheduledAt.Compare(b.ScheduledAt) })
	var page delivery.Page
	if len(kept) > limit {
		kept = kept[:limit]
		page.Next = kept[limit-1].ID
	}
	page.Attempts = kept
	return page, nil
}

// attemptedToClosed treats AttemptedTo as inclusive.
type attemptedToClosed struct{ *memstore.Store }

func (s *attemptedToClosed) List(ctx context.Context, q delivery.ListQuery) (delivery.Page, error) {
	if !q.AttemptedTo.IsZero() {
		q.AttemptedTo = q.AttemptedTo.Add(time.Microsecond)
	}
	return s.Store.List(ctx, q)
}

// attemptedFromOpen treats AttemptedFrom as exclusive.
type attemptedFromOpen struct{ *memstore.Store }

func (s *attemptedFromOpen) List(ctx context.Context, q delivery.ListQuery) (delivery.Page, error) {
	if !q.AttemptedFrom.IsZero() {
		q.AttemptedFrom = q.AttemptedFrom.Add(time.Microsecond)
	}
	return s.Store.List(ctx, q)
}

// eventOfLastInsert answers Event with the attempt inserted last.
type eventOfLastInsert struct {
	*memstore.Store
	mu   sync.Mutex
	last map[string]delivery.Event
}

func (s *eventOfLastInsert) Insert(ctx context.Context, jobs ...delivery.Job) error {
	err := s.Store.Insert(ctx, jobs...)
	if err == nil {
		s.mu.Lock()
		if s.last == nil {
			s.last = map[string]delivery.Event{}
		}
		for _, j := range jobs {
			s.last[j.Attempt.EventID] = delivery.Event{ID: j.Attempt.EventID, Type: j.Attempt.EventType, Payload: bytes.Clone(j.Payload)}
		}
		s.mu.Unlock()
	}
	return err
}

func (s *eventOfLastInsert) Event(ctx context.Context, id string) (delivery.Event, error) {
	ev, err := s.Store.Event(ctx, id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if last, ok := s.last[id]; ok && err == nil {
		return last, nil
	}
	return ev, err
}

// forgetsCancelOnTakeover drops the cancel of an attempt once another
// owner took it over: that owner's retry is inserted all the same.
type forgetsCancelOnTakeover struct {
	*memstore.Store
	mu        sync.Mutex
	reclaimed map[string]bool
}

func (s *forgetsCancelOnTakeover) Claim(ctx context.Context, req delivery.ClaimRequest) ([]delivery.Job, error) {
	jobs, err := s.Store.Claim(ctx, req)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reclaimed == nil {
		s.reclaimed = map[string]bool{}
	}
	for _, j := range jobs {
		if j.Reclaimed {
			s.reclaimed[j.Attempt.ID] = true
		}
	}
	return jobs, err
}

func (s *forgetsCancelOnTakeover) Complete(ctx context.Context, final delivery.Attempt, next *delivery.Job) error {
	s.mu.Lock()
	taken := s.reclaimed[final.ID]
	s.mu.Unlock()
	if !taken || next == nil {
		return s.Store.Complete(ctx, final, next)
	}
	if err := s.Store.Complete(ctx, final, nil); err != nil {
		return err
	}
	return s.Store.Insert(ctx, *next)
}

// releaseErasesMark hands a released attempt out again as if nobody could
// have sent it.
type releaseErasesMark struct {
	*memstore.Store
	mu       sync.Mutex
	released map[string]bool
}

func (s *releaseErasesMark) Release(ctx context.Context, owner string, ids ...string) error {
	s.mu.Lock()
	if s.released == nil {
		s.released = map[string]bool{}
	}
	for _, id := range ids {
		s.released[id] = true
	}
	s.mu.Unlock()
	return s.Store.Release(ctx, owner, ids...)
}

func (s *releaseErasesMark) Claim(ctx context.Context, req delivery.ClaimRequest) ([]delivery.Job, error) {
	jobs, err := s.Store.Claim(ctx, req)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range jobs {
		if s.released[jobs[i].Attempt.ID] {
			jobs[i].Reclaimed = false
		}
	}
	return jobs, err
}

// ignoresContext completes and claims whatever its context says.
type ignoresContext struct{ *memstore.Store }

func (s *ignoresContext) Complete(_ context.Context, final delivery.Attempt, next *delivery.Job) error {
	return s.Store.Complete(context.Background(), final, next)
}

func (s *ignoresContext) Claim(_ context.Context, req delivery.ClaimRequest) ([]delivery.Job, error) {
	return s.Store.Claim(context.Background(), req)
}

// plainPreconditions rejects a bad claim with an error of its own.
type plainPreconditions struct{ *memstore.Store }

func (s *plainPreconditions) Claim(ctx context.Context, req delivery.ClaimRequest) ([]delivery.Job, error) {
	jobs, err := s.Store.Claim(ctx, req)
	if errors.Is(err, delivery.ErrInvalidInput) {
		return nil, errors.New("bad claim")
	}
	return jobs, err
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type ignoresPerEndpoint struct{ *memstore.Store }

func (s *ignoresPerEndpoint) Claim(ctx context.Context, req delivery.ClaimRequest) ([]delivery.Job, error) {
	req.PerEndpoint = 0
	return s.Store.Claim(ctx, req)
}

type forgetsHealth struct{ *memstore.Store }

func (s *forgetsHealth) Health(_ context.Context, endpointID string) (delivery.EndpointHealth, error) {
	return delivery.EndpointHealth{EndpointID: endpointID}, nil
}

type ignoresPause struct{ *memstore.Store }

func (s *ignoresPause) Pause(ctx context.Context, req delivery.PauseRequest) (delivery.EndpointHealth, error) {
	if err := req.Validate(); err != nil {
		return delivery.EndpointHealth{}, err
	}
	h, err := s.Health(ctx, req.EndpointID)
	h.PausedUntil, h.Cooldown = req.Until, max(req.Cooldown, h.Cooldown)
	return h, err
}

type unmarkedProbe struct{ *memstore.Store }

func (s *unmarkedProbe) Claim(ctx context.Context, req delivery.ClaimRequest) ([]delivery.Job, error) {
	jobs, err := s.Store.Claim(ctx, req)
	for i := range jobs {
		jobs[i].Probe = false
	}
	return jobs, err
}

// ignoresDescending lists oldest first whatever the query asks.
type ignoresDescending struct{ *memstore.Store }

func (s *ignoresDescending) List(ctx context.Context, q delivery.ListQuery) (delivery.Page, error) {
	q.Descending = false
	return s.Store.List(ctx, q)
}

// ignoresEventType lists every event type.
type ignoresEventType struct{ *memstore.Store }

func (s *ignoresEventType) List(ctx context.Context, q delivery.ListQuery) (delivery.Page, error) {
	q.EventType = ""
	return s.Store.List(ctx, q)
}

// closedBuckets counts an attempt sent at the very end of a bucket in that
// bucket, not the next: it adds up from one microsecond later.
type closedBuckets struct{ *memstore.Store }

func (s *closedBuckets) Activity(ctx context.Context, q delivery.ActivityQuery) ([]delivery.EndpointActivity, error) {
	q.From = q.From.Add(time.Microsecond)
	return s.Store.Activity(ctx, q)
}

// payloadPerAttempt keeps the payload of every job, as a store that stores
// it with each attempt would, and claims attempts with their own.
type payloadPerAttempt struct {
	*memstore.Store
	mu       sync.Mutex
	payloads map[string][]byte
}

func (s *payloadPerAttempt) keep(jobs ...delivery.Job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.payloads == nil {
		s.payloads = map[string][]byte{}
	}
	for _, j := range jobs {
		s.payloads[j.Attempt.ID] = bytes.Clone(j.Payload)
	}
}

func (s *payloadPerAttempt) Insert(ctx context.Context, jobs ...delivery.Job) error {
	err := s.Store.Insert(ctx, jobs...)
	if err == nil {
		s.keep(jobs...)
	}
	return err
}

func (s *payloadPerAttempt) Complete(ctx context.Context, final delivery.Attempt, next *delivery.Job) error {
	err := s.Store.Complete(ctx, final, next)
	if err == nil && next != nil {
		s.keep(*next)
	}
	return err
}

func (s *payloadPerAttempt) Claim(ctx context.Context, req delivery.ClaimRequest) ([]delivery.Job, error) {
	jobs, err := s.Store.Claim(ctx, req)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range jobs {
		jobs[i].Payload = bytes.Clone(s.payloads[jobs[i].Attempt.ID])
	}
	return jobs, err
}
