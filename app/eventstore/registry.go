package eventstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"shop/app/fault"
	"shop/domain/es"
)

// ErrUnknownEventType is returned for an event type the registry does not hold.
var ErrUnknownEventType = errors.New("unknown event type")

// Registry knows every event type of the system by wire name: the aggregate
// type it belongs to, its current schema version, and how to bring older
// payloads up to date. It is built once, in the composition root.
type Registry struct {
	types map[string]*eventType
}

type eventType struct {
	aggregateType string
	schema        es.EventType
	upcasters     map[int]es.Upcast // from version → to version+1
}

// AggregateEvents is the event list of one aggregate type.
type AggregateEvents struct {
	AggregateType string
	Events        []es.EventType
}

// NewRegistry registers the events of every aggregate given, with their
// upcasts. Duplicate names, schema versions below 1, and an upcast missing
// for a version below the current one or given for one at or above it, are
// errors.
func NewRegistry(aggregates ...AggregateEvents) (*Registry, error) {
	r := &Registry{types: map[string]*eventType{}}
	for _, a := range aggregates {
		for _, t := range a.Events {
			name := t.Name()
			if _, dup := r.types[name]; dup {
				return nil, fmt.Errorf("event type %s registered twice", name)
			}
			if t.SchemaVersion < 1 {
				return nil, fmt.Errorf("event type %s: schema version %d, want 1 or more", name, t.SchemaVersion)
			}
			for from := range t.Upcasts {
				if from < 1 || from >= t.SchemaVersion {
					return nil, fmt.Errorf("event type %s: upcast from version %d, but the current version is %d", name, from, t.SchemaVersion)
				}
			}
			for from := 1; from < t.SchemaVersion; from++ {
				if t.Upcasts[from] == nil {
					return nil, fmt.Errorf("event type %s: no upcast from version %d", name, from)
				}
			}
			r.types[name] = &eventType{aggregateType: a.AggregateType, schema: t, upcasters: t.Upcasts}
		}
	}
	return r, nil
}

// New returns an empty event of the type, to decode into.
func (r *Registry) New(eventType string) (es.Event, error) {
	t, ok := r.types[eventType]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownEventType, eventType)
	}
	return t.schema.New(), nil
}

// AggregateType names the aggregate type an event type belongs to.
func (r *Registry) AggregateType(eventType string) (string, bool) {
	t, ok := r.types[eventType]
	if !ok {
		return "", false
	}
	return t.aggregateType, true
}

// EventTypes lists the registered event type names of an aggregate type, sorted.
func (r *Registry) EventTypes(aggregateType string) []es.EventType {
	var names []string
	for name, t := range r.types {
		if t.aggregateType == aggregateType {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	types := make([]es.EventType, len(names))
	for i, n := range names {
		types[i] = r.types[n].schema
	}
	return types
}

// Names lists every registered event type name, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.types))
	for name := range r.types {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Encode returns the current schema version of the event and its payload.
func (r *Registry) Encode(e es.Event) (int, []byte, error) {
	t, ok := r.types[e.EventName()]
	if !ok {
		return 0, nil, fmt.Errorf("%w %q", ErrUnknownEventType, e.EventName())
	}
	data, err := json.Marshal(e)
	if err != nil {
		return 0, nil, fmt.Errorf("encode %s: %w", e.EventName(), err)
	}
	return t.schema.SchemaVersion, data, nil
}

// Decode upcasts a payload to the current schema version and decodes it.
// Payloads that cannot be decoded are fault.Malformed.
func (r *Registry) Decode(eventType string, schemaVersion int, payload []byte) (es.Event, error) {
	e, err := r.New(eventType)
	if err != nil {
		return nil, fault.Malformed(err)
	}
	if err := r.DecodeInto(e, schemaVersion, payload); err != nil {
		return nil, err
	}
	return e, nil
}

// DecodeInto upcasts a payload and decodes it into e, an empty event of the type.
func (r *Registry) DecodeInto(e es.Event, schemaVersion int, payload []byte) error {
	payload, err := r.Upcast(e.EventName(), schemaVersion, payload)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(payload, e); err != nil {
		return fault.Malformed(fmt.Errorf("decode %s v%d: %w", e.EventName(), schemaVersion, err))
	}
	return nil
}

// Upcast brings a payload of schemaVersion to the current version of its type.
func (r *Registry) Upcast(eventType string, schemaVersion int, payload []byte) ([]byte, error) {
	t, ok := r.types[eventType]
	if !ok {
		return nil, fault.Malformed(fmt.Errorf("%w %q", ErrUnknownEventType, eventType))
	}
	if schemaVersion < 1 || schemaVersion > t.schema.SchemaVersion {
		return nil, fault.Malformed(fmt.Errorf("%s: schema version %d is not between 1 and %d", eventType, schemaVersion, t.schema.SchemaVersion))
	}
	for v := schemaVersion; v < t.schema.SchemaVersion; v++ {
		up, ok := t.upcasters[v]
		if !ok {
			return nil, fault.Malformed(fmt.Errorf("%s: no upcaster from schema version %d", eventType, v))
		}
		var err error
		if payload, err = up(payload); err != nil {
			return nil, fault.Malformed(fmt.Errorf("upcast %s from v%d: %w", eventType, v, err))
		}
	}
	return payload, nil
}
