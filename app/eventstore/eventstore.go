// Package eventstore declares what the application needs from an event store,
// and builds the load-change-append cycle of every aggregate on top of it.
//
// The store is the source of truth and the outbox: records appended to it are
// published to the bus from it (see Outbox and Origin), never by the code that
// changed the aggregate.
package eventstore

import (
	"cmp"
	"context"
	"errors"
	"iter"
	"strings"
	"time"

	"shop/domain/es"
	"shop/domain/refusal"
)

var (
	// ErrConflict is returned by Append when the stream moved past the expected
	// version: another writer appended first. Reload and try again.
	ErrConflict = errors.New("concurrency conflict")
	// ErrNotFound is returned when an aggregate has no events.
	ErrNotFound = refusal.New(refusal.NotFound, "not_found", "aggregate not found")
	// ErrAlreadyExists is returned when adding an aggregate whose stream already has events.
	ErrAlreadyExists = refusal.New(refusal.Conflict, "already_exists", "aggregate already exists")
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
	// Origin is the origin of the relay that took the record to publish when
	// it was appended.
	Origin string
	// Trace is the trace context of the append (W3C traceparent and
	// tracestate), stored with the record so that its publish, whenever a
	// relay makes it, continues the trace; nil when nothing traces.
	Trace map[string]string
}

// Origin is a relay's account of what it has published, kept in the store
// beside the records instead of a flag on each record, which cost a write for
// every event published. Every record appended through a relay carries the id
// of the relay's origin. While the relay runs it renews its origin every
// second or so, saying that every record of that origin recorded before
// PublishedBefore is on the bus. An origin nobody renewed for a while belongs
// to a relay that stopped without publishing everything: another relay takes
// it over (renews it as its own) and publishes its records from
// PublishedBefore on, then drops it.
type Origin struct {
	ID string
	// Holder names the relay that renews it.
	Holder          string
	PublishedBefore time.Time
	RenewedAt       time.Time
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
	// Subjects selects the personal events (es.Personal) of these data
	// subjects. A store that does not decode events to match them finds the
	// subject in the event's CustomerID field, which every personal event
	// names it by.
	Subjects []string
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
	// LoadAfter returns an aggregate's records after version, oldest first.
	LoadAfter(ctx context.Context, aggregateType, aggregateID string, version int) ([]Record, error)
	// Version is the version of an aggregate's latest record; 0 when it has none.
	Version(ctx context.Context, aggregateType, aggregateID string) (int, error)
	// Read yields the records matching f in the order they were recorded, and
	// stops at the first error.
	Read(ctx context.Context, f Filter) iter.Seq2[Record, error]
	// Redact replaces the stored events of records, each found by its
	// EventID, with the record's Event, of the current schema: the one
	// exception to the log's immutability, to erase personal data stored in
	// clear before it was sealed. Nothing else of a record changes.
	Redact(ctx context.Context, records []Record) error
	// SaveOrigin stores o if the stored origin with its id was last renewed
	// at previous, or, with previous zero, if no origin has its id yet. It
	// reports whether it stored o: false when another relay renewed or took
	// the origin meanwhile, or created one of that id. Times are kept to the
	// millisecond.
	SaveOrigin(ctx context.Context, o Origin, previous time.Time) (bool, error)
	// StaleOrigins lists the origins last renewed before a time.
	StaleOrigins(ctx context.Context, renewedBefore time.Time) ([]Origin, error)
	// DropOrigin deletes the origin with that id if it was last renewed at
	// renewedAt.
	DropOrigin(ctx context.Context, id string, renewedAt time.Time) error
	// OriginRecords returns up to limit records of an origin recorded at or
	// after from and positioned after the given position, in position order.
	// The zero Position starts from the first; the position of the last
	// record returned continues from there, so that a backlog larger than one
	// page is walked without repeats or gaps.
	OriginRecords(ctx context.Context, origin string, from time.Time, after Position, limit int) ([]Record, error)
}

// Codec turns domain events into stored bytes and back, upcasting bytes of an
// older schema version on the way in. Store adapters use it.
type Codec interface {
	Encode(e es.Event) (schemaVersion int, data []byte, err error)
	Decode(eventType string, schemaVersion int, data []byte) (es.Event, error)
}

// Outbox publishes what is appended. A writer begins a slip before it
// appends: the records carry the slip's origin, and the slip is ended with
// the records and the append's error. Stored records (no error) are
// published in order; after ErrConflict nothing was stored; after any other
// error the records may have been stored, and the outbox finds out and
// publishes those that were. Begin waits, within ctx, only for the outbox's
// first origin to be stored; End must not block on the bus.
type Outbox interface {
	Begin(ctx context.Context) (Slip, error)
}

// Slip is one append on its way to the outbox.
type Slip interface {
	Origin() string
	End(records []Record, err error)
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
