package memory

import (
	"context"
	"slices"
	"sync"

	"shop/app/eventstore"
)

// Snapshots keeps the latest snapshot of each stream in memory.
type Snapshots struct {
	mu    sync.Mutex
	byKey map[[2]string]eventstore.Snapshot
}

// NewSnapshots builds an empty snapshot store.
func NewSnapshots() *Snapshots { return &Snapshots{byKey: map[[2]string]eventstore.Snapshot{}} }

func (m *Snapshots) Save(_ context.Context, s eventstore.Snapshot) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := [2]string{s.AggregateType, s.AggregateID}
	if kept, ok := m.byKey[key]; ok && kept.Version > s.Version {
		return nil
	}
	s.State = slices.Clone(s.State)
	m.byKey[key] = s
	return nil
}

func (m *Snapshots) Latest(_ context.Context, aggregateType, aggregateID string) (eventstore.Snapshot, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.byKey[[2]string{aggregateType, aggregateID}]
	s.State = slices.Clone(s.State)
	return s, ok, nil
}

func (m *Snapshots) Delete(_ context.Context, aggregateIDs []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for key := range m.byKey {
		if slices.Contains(aggregateIDs, key[1]) {
			delete(m.byKey, key)
		}
	}
	return nil
}
