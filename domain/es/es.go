// Package es holds the event-sourcing building blocks every aggregate of the
// domain shares: the Event contract, the declaration of an event type, and Root,
// which tracks an aggregate's version and the changes not yet stored.
//
// It is plain Go on purpose: storing, encoding and publishing events is the job
// of app/ and its adapters.
package es

import (
	"errors"
	"fmt"
)

// Event is a fact that happened to an aggregate.
//
// EventName is the event's identity in the store and on the bus. Once an event
// of a name was stored, the name must never change: it is a contract, not a
// Go identifier. The same holds for the exported field names of the struct,
// which are its encoded form; changing them is a new schema version with an
// upcaster (EventType.Upcasts).
type Event interface {
	EventName() string
}

// EventType declares one kind of event of a bounded context: the schema
// version its Go struct has today, how to make an empty one to decode into,
// and how the payloads of its older versions, as they were stored, become
// the next version's: Upcasts[v] turns version v into v+1, for every v below
// SchemaVersion. Stored events are never rewritten.
type EventType struct {
	SchemaVersion int
	New           func() Event
	Upcasts       map[int]Upcast
}

// Upcast rewrites the encoded payload of one schema version into the next.
type Upcast func(payload []byte) ([]byte, error)

// Name is the wire name of the event type.
func (t EventType) Name() string { return t.New().EventName() }

// ErrUnknownEvent is returned when an aggregate is given an event it does not
// know how to apply: a bug or data from a newer version, never to be skipped.
var ErrUnknownEvent = errors.New("unknown event for aggregate")

// UnknownEventError names the event an aggregate could not apply.
func UnknownEventError(aggregate string, e Event) error {
	return fmt.Errorf("%w %s: %T", ErrUnknownEvent, aggregate, e)
}

// Root is embedded by every event-sourced aggregate. State changes only by
// applying events: a command method validates, then records an event, which the
// aggregate applies to itself and hands to Root to be stored.
type Root struct {
	id      string
	version int
	changes []Event
}

// NewRoot starts an aggregate with no history.
func NewRoot(id string) Root { return Root{id: id} }

// ID is the aggregate's identity.
func (r *Root) ID() string { return r.id }

// Version counts every event of the aggregate, stored or not yet stored.
func (r *Root) Version() int { return r.version }

// StoredVersion is the version the event store holds: the expected version
// when the changes are appended.
func (r *Root) StoredVersion() int { return r.version - len(r.changes) }

// Changes are the events recorded since the aggregate was loaded or last stored.
func (r *Root) Changes() []Event { return r.changes }

// MarkStored forgets the changes once the store has them.
func (r *Root) MarkStored() { r.changes = nil }

// RestoredRoot starts an aggregate restored from a snapshot of its state
// at version, before the events after it are replayed.
func RestoredRoot(id string, version int) Root { return Root{id: id, version: version} }

// Track records a new event that the aggregate has just applied to itself.
func (r *Root) Track(e Event) {
	r.version++
	r.changes = append(r.changes, e)
}

// Replayed counts an event the aggregate applied while being rebuilt from history.
func (r *Root) Replayed() { r.version++ }

// Personal is an event, or an aggregate's snapshot, that holds personal
// data of one person, its data subject. The platform stores and publishes
// those values encrypted with a key of the subject's own, and forgets them
// by deleting the key (crypto-shredding): the event stays, and its personal
// fields say nothing.
//
// PersonalData points at each personal field, for the values to be sealed
// and opened in place; DataSubject names whose they are. Neither may change
// once an event of the type was stored, like its field names.
type Personal interface {
	DataSubject() string
	PersonalData() []*string
}
