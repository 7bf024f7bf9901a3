package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"shop/domain/es"
)

// Snapshot is an aggregate's state as of a version, encoded by its type's
// SnapshotCodec. Loading the aggregate reads the snapshot and the events
// after it, instead of every event of the stream.
type Snapshot struct {
	AggregateType string
	AggregateID   string
	Version       int
	// Schema is the codec's schema when the snapshot was taken: a snapshot
	// of another schema is ignored, never read into today's shape.
	Schema  int
	State   []byte
	TakenAt time.Time
}

// Snapshots keeps the latest snapshot of each stream. It is a cache of the
// event store: losing one costs a longer load, never a fact.
type Snapshots interface {
	// Save keeps s as its stream's snapshot unless the one kept is of a
	// later version; one of the same version is replaced.
	Save(ctx context.Context, s Snapshot) error
	// Latest returns the stream's snapshot; false when it has none.
	Latest(ctx context.Context, aggregateType, aggregateID string) (Snapshot, bool, error)
	// Delete forgets the snapshots of these aggregates, of any type.
	Delete(ctx context.Context, aggregateIDs []string) error
}

// SnapshotPolicy says which streams are snapshotted and where: a snapshot
// is taken after each append that takes a stream past a multiple of Every.
// Every 0 takes none and loads every stream whole.
type SnapshotPolicy struct {
	Store Snapshots
	Every int
	// Failed hears of a snapshot that could not be taken or read. The
	// aggregate is then loaded from all its events; nothing fails.
	Failed func(error)
}

// SnapshotCodec takes an aggregate's state and restores an aggregate from
// it: JSONSnapshot makes one from an aggregate's own Snapshot and
// FromSnapshot.
type SnapshotCodec[A Aggregate] struct {
	Schema int
	// take copies the state out of the aggregate; encode encodes what take
	// returned, after it was sealed (es.Personal).
	take    func(A) any
	encode  func(state any) ([]byte, error)
	restore func(id string, version int, state []byte, tail []es.Event) (A, error)
}

// JSONSnapshot is the codec of an aggregate whose state S is taken by take,
// which must copy what it shares with the aggregate, and restored by
// restore from a state at a version and the events after it. S is stored as
// JSON; when *S holds personal data (es.Personal), it is sealed first.
func JSONSnapshot[A Aggregate, S any](schema int, take func(A) S, restore func(id string, version int, s S, tail []es.Event) (A, error)) SnapshotCodec[A] {
	return SnapshotCodec[A]{
		Schema: schema,
		take:   func(a A) any { s := take(a); return &s },
		encode: func(state any) ([]byte, error) { return json.Marshal(state) },
		restore: func(id string, version int, data []byte, tail []es.Event) (A, error) {
			var s S
			if err := json.Unmarshal(data, &s); err != nil {
				var zero A
				return zero, fmt.Errorf("decode snapshot: %w", err)
			}
			return restore(id, version, s, tail)
		},
	}
}

func (c SnapshotCodec[A]) isZero() bool { return c.take == nil }

// Encode is the state of a as stored, its personal data not sealed.
func (c SnapshotCodec[A]) Encode(a A) ([]byte, error) { return c.encode(c.take(a)) }

// Restore builds an aggregate from a state Encode made at version and the
// events after it.
func (c SnapshotCodec[A]) Restore(id string, version int, state []byte, tail []es.Event) (A, error) {
	return c.restore(id, version, state, tail)
}

// crosses reports whether an append from version from to version to takes
// the stream past a multiple of every.
func crosses(from, to, every int) bool {
	return every > 0 && from/every < to/every
}

// stream is what an aggregate is built from: its events, or its snapshot
// and the events after it.
type stream struct {
	snapshot *Snapshot
	records  []Record
}

// read reads the stream, from its snapshot when the policy keeps one of
// the codec's schema.
func (r *Repository[A]) read(ctx context.Context, id string) (stream, error) {
	if r.snapshotting() {
		snap, found, err := r.cfg.Snapshots.Store.Latest(ctx, r.cfg.AggregateType, id)
		switch {
		case err != nil:
			r.snapshotFailed(fmt.Errorf("read the snapshot of %s %s: %w", r.cfg.AggregateType, id, err))
		case found && snap.Schema == r.cfg.Snapshot.Schema:
			records, err := r.cfg.Store.LoadAfter(ctx, r.cfg.AggregateType, id, snap.Version)
			if err != nil {
				return stream{}, fmt.Errorf("load %s %s: %w", r.cfg.AggregateType, id, err)
			}
			return stream{snapshot: &snap, records: records}, nil
		}
	}
	records, err := r.records(ctx, id)
	return stream{records: records}, err
}

// fetch reads the stream and builds the aggregate; a snapshot that does
// not build is reported, and the aggregate built from every event.
func (r *Repository[A]) fetch(ctx context.Context, id string) (A, stream, error) {
	s, err := r.read(ctx, id)
	if err != nil {
		var zero A
		return zero, s, err
	}
	a, err := r.build(id, s)
	if err != nil && s.snapshot != nil {
		r.snapshotFailed(fmt.Errorf("%s %s from its snapshot at version %d: %w", r.cfg.AggregateType, id, s.snapshot.Version, err))
		if s.records, err = r.records(ctx, id); err != nil {
			var zero A
			return zero, s, err
		}
		s.snapshot = nil
		a, err = r.build(id, s)
	}
	return a, s, err
}

func (r *Repository[A]) build(id string, s stream) (A, error) {
	if s.snapshot == nil {
		return r.rebuild(id, s.records)
	}
	var zero A
	tail := make([]es.Event, len(s.records))
	for i, rec := range s.records {
		if rec.Version != s.snapshot.Version+i+1 {
			return zero, fmt.Errorf("version %d after a snapshot at %d: the stream has a gap", rec.Version, s.snapshot.Version)
		}
		tail[i] = rec.Event
	}
	return r.cfg.Snapshot.restore(id, s.snapshot.Version, s.snapshot.State, tail)
}

func (r *Repository[A]) snapshotting() bool {
	return r.cfg.Snapshots.Every > 0 && r.cfg.Snapshots.Store != nil && !r.cfg.Snapshot.isZero()
}

func (r *Repository[A]) snapshotFailed(err error) {
	if f := r.cfg.Snapshots.Failed; f != nil {
		f(err)
	}
}

// snapshotAfter takes a snapshot of a just appended, when the append took
// its stream past a multiple of Every. The state is copied at once, while
// the caller holds the aggregate's lock; sealing, encoding and saving happen
// in the background, so that a slow or failing snapshot store never holds
// up nor fails the command.
func (r *Repository[A]) snapshotAfter(a A, from int) {
	if !r.snapshotting() || !crosses(from, a.Version(), r.cfg.Snapshots.Every) {
		return
	}
	id, version, state := a.ID(), a.Version(), r.cfg.Snapshot.take(a)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), snapshotTimeout)
		defer cancel()
		if err := r.saveSnapshot(ctx, id, version, state); err != nil {
			r.snapshotFailed(err)
		}
	}()
}

// snapshotTimeout bounds a snapshot written in the background.
const snapshotTimeout = 10 * time.Second

func (r *Repository[A]) saveSnapshot(ctx context.Context, id string, version int, state any) error {
	// A snapshot's personal data is sealed as its events' was; an aggregate
	// this process holds may have it in clear (as the command gave it), and
	// after an erasure it must not be sealed under a new key.
	if p, ok := state.(es.Personal); ok && r.cfg.Sealer != nil {
		if err := r.cfg.Sealer.Reseal(ctx, p); err != nil {
			return fmt.Errorf("snapshot of %s %s: %w", r.cfg.AggregateType, id, err)
		}
	}
	data, err := r.cfg.Snapshot.encode(state)
	if err != nil {
		return fmt.Errorf("snapshot of %s %s: %w", r.cfg.AggregateType, id, err)
	}
	err = r.cfg.Snapshots.Store.Save(ctx, Snapshot{
		AggregateType: r.cfg.AggregateType, AggregateID: id, Version: version, Schema: r.cfg.Snapshot.Schema,
		State: data, TakenAt: r.cfg.Clock.Now(),
	})
	if err != nil {
		return fmt.Errorf("snapshot of %s %s: %w", r.cfg.AggregateType, id, err)
	}
	return nil
}

// ErrNoSnapshots is returned by TakeSnapshot when the repository keeps none.
var ErrNoSnapshots = errors.New("no snapshots are kept of this aggregate type")

// TakeSnapshot snapshots an aggregate from all its stored events, whatever
// snapshot it has, when it has at least Every of them, and reports whether
// it did: the rebuild of snapshots after a change of their schema, or of
// Every.
func (r *Repository[A]) TakeSnapshot(ctx context.Context, id string) (bool, error) {
	if !r.snapshotting() {
		return false, ErrNoSnapshots
	}
	records, err := r.records(ctx, id)
	if err != nil {
		return false, err
	}
	if len(records) < r.cfg.Snapshots.Every {
		return false, nil
	}
	a, err := r.rebuild(id, records)
	if err != nil {
		return false, err
	}
	return true, r.saveSnapshot(ctx, id, a.Version(), r.cfg.Snapshot.take(a))
}
