// Package eventstore declares what the application needs from an event store,
// and builds the load-change-append cycle of every aggregate on top of it.
//
// The store is the source of truth and the outbox: records appended to it are
// published to the bus from it (see Outbox), never by the code that changed the
// aggregate.
package eventstore

import (
	"cmp"
	"context"
	"errors"
	"iter"
	"strings"
	"time"

	"shop/domain/es"
)

var (
	// ErrConflict is returned by Append when the stream moved past the expected
	// version: another writer appended first. Reload and try again.
	ErrConflict = errors.New("concurrency conflict")
	// ErrNotFound is returned when an aggregate has no events.
	ErrNotFound = errors.New("aggregate not found")
	// ErrAlreadyExists is returned when adding an aggregate whose stream already has events.
	ErrAlreadyExists = errors.New("aggregate already exists")
)

// Record is a stored event: the domain event and everything around it. The
// envelope is not the event: the domain never sees it.
type Record struct {
	EventID       string
	AggregateType string
	AggregateID   string
	// Version is the aggregate's version after this event: 1 for its first.
	Version int
	// Type is the event's wire name, SchemaVersion the schema it was written
	// with. Event itself is always of the current schema (older ones are upcast
	// when read).
	Type          string
	SchemaVersion int
	Event         es.Event
	CorrelationID string
	CausationID   string
	OccurredAt    time.Time
	// RecordedAt is set by the store when it accepts the record.
	RecordedAt time.Time
	// Payload is the event as the store encoded it, when the store has it at
	// hand: publishing it then needs no second encoding. Empty otherwise.
	Payload []byte
}

// Position is where a record sits in the order the store records them: by
// recording time, then, for records of the same instant, by stream and
// version. It is unique, since a stream has one record per version, and keeps
// each aggregate's records of one instant in version order. Recording times
// come from the clocks of the processes that append, so across instants an
// aggregate's versions are in order only as far as those clocks agree.
type Position struct {
	RecordedAt    time.Time
	AggregateType string
	AggregateID   string
	Version       int
}

// PositionOf returns the position of a stored record.
func PositionOf(r Record) Position {
	return Position{RecordedAt: r.RecordedAt, AggregateType: r.AggregateType, AggregateID: r.AggregateID, Version: r.Version}
}

// IsZero reports whether p is the zero Position, which precedes every record.
func (p Position) IsZero() bool {
	return p.RecordedAt.IsZero() && p.AggregateType == "" && p.AggregateID == "" && p.Version == 0
}

// Compare returns -1, 0 or +1 as p is before, at or after q.
func (p Position) Compare(q Position) int {
	if c := p.RecordedAt.Compare(q.RecordedAt); c != 0 {
		return c
	}
	if c := strings.Compare(p.AggregateType, q.AggregateType); c != 0 {
		return c
	}
	if c := strings.Compare(p.AggregateID, q.AggregateID); c != 0 {
		return c
	}
	return cmp.Compare(p.Version, q.Version)
}

// Filter selects records for replays and audits. Zero fields do not filter;
// several values of one field match any of them.
type Filter struct {
	AggregateTypes []string
	AggregateIDs   []string
	Types          []string
	EventIDs       []string
	// Since and Until bound RecordedAt: Since inclusive, Until exclusive.
	Since, Until time.Time
	Limit        int
}

// Store is an append-only log of aggregate streams.
type Store interface {
	// Append adds the records of one aggregate, whose versions follow the
	// stream's current version without a gap. If the stream is not at
	// records[0].Version-1, nothing is appended and the error wraps ErrConflict.
	// On success it sets each record's RecordedAt and SchemaVersion, and may
	// set its Payload.
	Append(ctx context.Context, records []Record) error
	// Load returns an aggregate's records, oldest first; none when it has no events.
	Load(ctx context.Context, aggregateType, aggregateID string) ([]Record, error)
	// Version is the version of an aggregate's latest record; 0 when it has none.
	Version(ctx context.Context, aggregateType, aggregateID string) (int, error)
	// Read yields the records matching f in the order they were recorded, and
	// stops at the first error.
	Read(ctx context.Context, f Filter) iter.Seq2[Record, error]
	// Unpublished returns up to limit records recorded before recordedBefore
	// and positioned after the given position that were not marked published,
	// in position order. The zero Position starts from the first record; the
	// position of the last record returned continues from there, so that a
	// backlog larger than one page is walked without repeats or gaps even as
	// records are marked published along the way.
	Unpublished(ctx context.Context, recordedBefore time.Time, after Position, limit int) ([]Record, error)
	// MarkPublished notes that the bus has the records with these event ids.
	MarkPublished(ctx context.Context, eventIDs []string) error
}

// Codec turns domain events into stored bytes and back, upcasting bytes of an
// older schema version on the way in. Store adapters use it.
type Codec interface {
	Encode(e es.Event) (schemaVersion int, data []byte, err error)
	Decode(eventType string, schemaVersion int, data []byte) (es.Event, error)
}

// Outbox takes records that were just appended, to publish them in order.
// Enqueue must not block on the bus: the store already holds the records.
type Outbox interface {
	Enqueue(records []Record)
}

// Clock tells the time; a port so that tests control it.
type Clock interface {
	Now() time.Time
}

// Cause is why something happens: the conversation it belongs to
// (correlation) and the message that caused it (causation).
type Cause struct {
	CorrelationID string
	CausationID   string
}

type causeKey struct{}

// WithCause returns a context carrying c; records appended under it carry c.
func WithCause(ctx context.Context, c Cause) context.Context {
	return context.WithValue(ctx, causeKey{}, c)
}

// CauseFrom returns the cause the context carries, or the zero Cause.
func CauseFrom(ctx context.Context) Cause {
	c, _ := ctx.Value(causeKey{}).(Cause)
	return c
}
