package memory

import (
	"context"
	"slices"
	"strings"
	"sync"

	"shop/app/operations"
)

// DeadLetters is the dead-letter archive in memory.
type DeadLetters struct {
	mu   sync.Mutex
	byID map[string]operations.DeadLetter
}

// NewDeadLetters returns an empty archive.
func NewDeadLetters() *DeadLetters {
	return &DeadLetters{byID: map[string]operations.DeadLetter{}}
}

func (m *DeadLetters) Record(_ context.Context, d operations.DeadLetter) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	stored, ok := m.byID[d.ID]
	if !ok {
		m.byID[d.ID] = clone(d)
		return nil
	}
	stored.LastFailedAt, stored.Reason, stored.Failures = d.LastFailedAt, d.Reason, stored.Failures+1
	if stored.Status == operations.StatusReplayed {
		stored.Status = operations.StatusFailed
	}
	m.byID[d.ID] = stored
	return nil
}

func (m *DeadLetters) Get(_ context.Context, id string) (operations.DeadLetter, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.byID[id]
	if !ok {
		return operations.DeadLetter{}, operations.ErrDeadLetterNotFound
	}
	return clone(d), nil
}

func (m *DeadLetters) List(_ context.Context, f operations.DeadLetterFilter) ([]operations.DeadLetter, error) {
	m.mu.Lock()
	var out []operations.DeadLetter
	for _, d := range m.byID {
		if f.Matches(d) {
			out = append(out, clone(d))
		}
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(a, b operations.DeadLetter) int {
		if c := a.FirstFailedAt.Compare(b.FirstFailedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

func (m *DeadLetters) Redact(_ context.Context, id string, payload []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.byID[id]
	if !ok {
		return operations.ErrDeadLetterNotFound
	}
	d.Payload = slices.Clone(payload)
	m.byID[id] = d
	return nil
}

func (m *DeadLetters) Act(_ context.Context, id string, status operations.Status, a operations.Action) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.byID[id]
	if !ok {
		return operations.ErrDeadLetterNotFound
	}
	d.Status = status
	d.History = append(slices.Clip(d.History), a)
	m.byID[id] = d
	return nil
}

func (m *DeadLetters) Replayed(_ context.Context, id string, failures int, a operations.Action) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.byID[id]
	if !ok {
		return operations.ErrDeadLetterNotFound
	}
	if d.Failures == failures {
		d.Status = operations.StatusReplayed
	}
	d.Replays++
	d.History = append(slices.Clip(d.History), a)
	m.byID[id] = d
	return nil
}

func clone(d operations.DeadLetter) operations.DeadLetter {
	d.History = slices.Clone(d.History)
	return d
}

// Runs is the log of replays in memory; it keeps the last thousand.
type Runs struct {
	mu   sync.Mutex
	runs []operations.Run
}

// NewRuns returns an empty log.
func NewRuns() *Runs { return &Runs{} }

func (m *Runs) Save(_ context.Context, r operations.Run) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.runs = append(m.runs, r)
	if len(m.runs) > 1000 {
		m.runs = slices.Clone(m.runs[len(m.runs)-1000:])
	}
	return nil
}

func (m *Runs) Recent(_ context.Context, limit int) ([]operations.Run, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := slices.Clone(m.runs)
	slices.Reverse(out)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
