package eventstoretest

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"

	"shop/app/eventstore"
)

// The ports a repository needs besides its store, for use-case tests.

// Clock tells one time, always.
type Clock struct{ At time.Time }

func (c Clock) Now() time.Time { return c.At }

// UUIDs makes random event ids, unique across the repositories of a test as
// across processes.
type UUIDs struct{}

func (UUIDs) NewID() string { return uuid.NewString() }

// NoOutbox takes what is appended and publishes nothing.
type NoOutbox struct{}

func (NoOutbox) Begin(context.Context) (eventstore.Slip, error) { return noSlip{}, nil }

type noSlip struct{}

func (noSlip) Origin() string                 { return "test" }
func (noSlip) End([]eventstore.Record, error) {}

// CountingStore counts the streams read from the store it wraps, by
// aggregate type: what a use case reads is the round trips it costs.
type CountingStore struct {
	eventstore.Store

	mu    sync.Mutex
	loads map[string]int
}

// Counting wraps a store.
func Counting(s eventstore.Store) *CountingStore {
	return &CountingStore{Store: s, loads: map[string]int{}}
}

func (s *CountingStore) Load(ctx context.Context, aggregateType, id string) ([]eventstore.Record, error) {
	s.mu.Lock()
	s.loads[aggregateType]++
	s.mu.Unlock()
	return s.Store.Load(ctx, aggregateType, id)
}

// Loads is how many streams of an aggregate type were read; of every type
// with no type given.
func (s *CountingStore) Loads(aggregateType ...string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(aggregateType) == 0 {
		n := 0
		for _, l := range s.loads {
			n += l
		}
		return n
	}
	return s.loads[aggregateType[0]]
}
