package delivery

import (
	"crypto/rand"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// idSource makes attempt IDs: ULIDs that increase strictly within the
// process, even when the clock steps back.
type idSource struct {
	mu      sync.Mutex
	lastMS  uint64
	entropy *ulid.MonotonicEntropy
}

// ids is the process-wide source, so that IDs from every Dispatcher in the
// process sort by creation.
var ids = &idSource{entropy: ulid.Monotonic(rand.Reader, 0)}

// next returns a new ULID. It fails only when the entropy of one millisecond
// overflows, which takes far more IDs than a process can make in it.
func (s *idSource) next() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ms := max(ulid.Timestamp(time.Now()), s.lastMS)
	id, err := ulid.New(ms, s.entropy)
	if err != nil {
		return "", err
	}
	s.lastMS = ms
	return id.String(), nil
}
