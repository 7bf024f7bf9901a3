// Package memory holds the adapters of the embedded mode: an event store, read
// models and idempotency stores that live in the process. They honour the same
// contracts as the MongoDB and Redis adapters (the shared suites prove it), and
// they keep nothing across restarts.
package memory

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"sync"
	"time"

	"shop/app/eventstore"
	"shop/domain/es"
)

// EventStore keeps every stream in memory. Records are held encoded, as a real
// store holds them, so that reading one goes through the codec and its upcasters.
type EventStore struct {
	codec eventstore.Codec
	now   func() time.Time

	mu      sync.RWMutex
	streams map[streamKey][]*storedRecord
	log     []*storedRecord
	byID    map[string]*storedRecord
	origins map[string]eventstore.Origin
	// byOrigin holds each origin's records in append order.
	byOrigin map[string][]*storedRecord
}

type streamKey struct{ aggregateType, aggregateID string }

type storedRecord struct {
	record eventstore.Record // without Event
	data   []byte
}

// NewEventStore returns an empty store that encodes events with codec.
func NewEventStore(codec eventstore.Codec) *EventStore {
	return &EventStore{
		codec:    codec,
		now:      time.Now,
		streams:  map[streamKey][]*storedRecord{},
		byID:     map[string]*storedRecord{},
		origins:  map[string]eventstore.Origin{},
		byOrigin: map[string][]*storedRecord{},
	}
}

func (s *EventStore) Append(ctx context.Context, records []eventstore.Record) error {
	if len(records) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	encoded := make([]*storedRecord, len(records))
	key := streamKey{records[0].AggregateType, records[0].AggregateID}
	for i, rec := range records {
		if rec.AggregateType != key.aggregateType || rec.AggregateID != key.aggregateID || rec.Version != records[0].Version+i {
			return fmt.Errorf("append: records must be one aggregate's, in version order without gaps")
		}
		version, data, err := s.codec.Encode(rec.Event)
		if err != nil {
			return fmt.Errorf("append %s: %w", rec.Type, err)
		}
		rec.SchemaVersion, rec.Event, rec.Payload = version, nil, nil
		encoded[i] = &storedRecord{record: rec, data: data}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	stream := s.streams[key]
	if len(stream) != records[0].Version-1 {
		return fmt.Errorf("%s %s is at version %d, not %d: %w", key.aggregateType, key.aggregateID, len(stream), records[0].Version-1, eventstore.ErrConflict)
	}
	now := s.now().UTC()
	for _, sr := range encoded {
		if _, dup := s.byID[sr.record.EventID]; dup {
			return fmt.Errorf("append: event id %s already stored", sr.record.EventID)
		}
	}
	for i, sr := range encoded {
		sr.record.RecordedAt = now
		s.byID[sr.record.EventID] = sr
		records[i].RecordedAt, records[i].SchemaVersion, records[i].Payload = now, sr.record.SchemaVersion, sr.data
	}
	s.streams[key] = append(stream, encoded...)
	s.log = append(s.log, encoded...)
	if origin := records[0].Origin; origin != "" {
		s.byOrigin[origin] = append(s.byOrigin[origin], encoded...)
	}
	return nil
}

func (s *EventStore) Load(ctx context.Context, aggregateType, aggregateID string) ([]eventstore.Record, error) {
	s.mu.RLock()
	stream := slices.Clone(s.streams[streamKey{aggregateType, aggregateID}])
	s.mu.RUnlock()
	return s.decodeAll(ctx, stream)
}

func (s *EventStore) LoadAfter(ctx context.Context, aggregateType, aggregateID string, version int) ([]eventstore.Record, error) {
	s.mu.RLock()
	stream := s.streams[streamKey{aggregateType, aggregateID}]
	stream = slices.Clone(stream[min(max(version, 0), len(stream)):])
	s.mu.RUnlock()
	return s.decodeAll(ctx, stream)
}

func (s *EventStore) Version(_ context.Context, aggregateType, aggregateID string) (int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.streams[streamKey{aggregateType, aggregateID}]), nil
}

func (s *EventStore) Read(ctx context.Context, f eventstore.Filter) iter.Seq2[eventstore.Record, error] {
	return func(yield func(eventstore.Record, error) bool) {
		match := matcher(f)
		yielded := 0
		// Walk a snapshot of the log's length: records appended while reading
		// are not part of this read.
		s.mu.RLock()
		end := len(s.log)
		s.mu.RUnlock()
		for i := 0; i < end; i++ {
			if err := ctx.Err(); err != nil {
				yield(eventstore.Record{}, err)
				return
			}
			s.mu.RLock()
			sr := s.log[i]
			s.mu.RUnlock()
			if !match(sr.record) {
				continue
			}
			rec, err := s.decode(sr)
			if err == nil && !about(rec, f.Subjects) {
				continue
			}
			if !yield(rec, err) || err != nil {
				return
			}
			if yielded++; f.Limit > 0 && yielded >= f.Limit {
				return
			}
		}
	}
}

func matcher(f eventstore.Filter) func(eventstore.Record) bool {
	in := func(values []string, v string) bool { return len(values) == 0 || slices.Contains(values, v) }
	return func(r eventstore.Record) bool {
		return in(f.AggregateTypes, r.AggregateType) && in(f.AggregateIDs, r.AggregateID) &&
			in(f.Types, r.Type) && in(f.EventIDs, r.EventID) &&
			(f.Since.IsZero() || !r.RecordedAt.Before(f.Since)) &&
			(f.Until.IsZero() || r.RecordedAt.Before(f.Until))
	}
}

// about reports whether rec is a personal event of one of subjects, or
// subjects name none.
func about(rec eventstore.Record, subjects []string) bool {
	if len(subjects) == 0 {
		return true
	}
	p, ok := rec.Event.(es.Personal)
	return ok && slices.Contains(subjects, p.DataSubject())
}

func (s *EventStore) Redact(ctx context.Context, records []eventstore.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rec := range records {
		sr, ok := s.byID[rec.EventID]
		if !ok {
			return fmt.Errorf("redact %s: no such record", rec.EventID)
		}
		version, data, err := s.codec.Encode(rec.Event)
		if err != nil {
			return fmt.Errorf("redact %s: %w", rec.EventID, err)
		}
		sr.record.SchemaVersion, sr.data = version, data
	}
	return nil
}

// millis is t as the store keeps times of origins.
func millis(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

func (s *EventStore) SaveOrigin(_ context.Context, o eventstore.Origin, previous time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	stored, exists := s.origins[o.ID]
	switch {
	case previous.IsZero() && exists, !previous.IsZero() && (!exists || !stored.RenewedAt.Equal(millis(previous))):
		return false, nil
	}
	o.PublishedBefore, o.RenewedAt = millis(o.PublishedBefore), millis(o.RenewedAt)
	s.origins[o.ID] = o
	return true, nil
}

func (s *EventStore) StaleOrigins(_ context.Context, renewedBefore time.Time) ([]eventstore.Origin, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var stale []eventstore.Origin
	for _, o := range s.origins {
		if o.RenewedAt.Before(renewedBefore) {
			stale = append(stale, o)
		}
	}
	slices.SortFunc(stale, func(a, b eventstore.Origin) int { return a.RenewedAt.Compare(b.RenewedAt) })
	return stale, nil
}

func (s *EventStore) DropOrigin(_ context.Context, id string, renewedAt time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.origins[id]; ok && o.RenewedAt.Equal(millis(renewedAt)) {
		delete(s.origins, id)
		delete(s.byOrigin, id)
	}
	return nil
}

// OriginRecords sorts what it finds rather than trusting the append order:
// the wall clock that stamps RecordedAt may step back between two appends.
func (s *EventStore) OriginRecords(ctx context.Context, origin string, from time.Time, after eventstore.Position, limit int) ([]eventstore.Record, error) {
	s.mu.RLock()
	var found []*storedRecord
	for _, sr := range s.byOrigin[origin] {
		if !sr.record.RecordedAt.Before(from) && eventstore.PositionOf(sr.record).Compare(after) > 0 {
			found = append(found, sr)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(found, func(a, b *storedRecord) int {
		return eventstore.PositionOf(a.record).Compare(eventstore.PositionOf(b.record))
	})
	if limit > 0 && len(found) > limit {
		found = found[:limit]
	}
	return s.decodeAll(ctx, found)
}

func (s *EventStore) decodeAll(ctx context.Context, stored []*storedRecord) ([]eventstore.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	records := make([]eventstore.Record, len(stored))
	for i, sr := range stored {
		rec, err := s.decode(sr)
		if err != nil {
			return nil, err
		}
		records[i] = rec
	}
	return records, nil
}

// decode is called without the lock held; it takes it to read sr, which a
// redaction may change.
func (s *EventStore) decode(sr *storedRecord) (eventstore.Record, error) {
	s.mu.RLock()
	rec, data := sr.record, sr.data
	s.mu.RUnlock()
	e, err := s.codec.Decode(rec.Type, rec.SchemaVersion, data)
	if err != nil {
		return eventstore.Record{}, fmt.Errorf("decode %s %s: %w", rec.Type, rec.EventID, err)
	}
	rec.Event, rec.Payload = e, data
	return rec, nil
}
