package cqrs

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"shop/app/eventstore"
	"shop/app/fault"
	"shop/cqrs/metadata"
	"shop/domain/es"
)

// Marshaler turns stored event records into Watermill messages and back. An
// event message's UUID is the event id, and its metadata is the record's
// envelope; its payload is the event in its stored schema version, upcast by
// the receiver. It implements Watermill's cqrs.CommandEventMarshaler, of which
// only events are used: the services send each other nothing but events, and
// a service's policies call its own command handlers directly.
type Marshaler struct {
	Registry *eventstore.Registry
}

// Marshal encodes an eventstore.Record.
func (m Marshaler) Marshal(v any) (*message.Message, error) {
	r, ok := v.(eventstore.Record)
	if !ok {
		return nil, fmt.Errorf("cannot marshal %T: not an event record", v)
	}
	return m.marshalRecord(r)
}

// marshalRecord keeps the metadata to eight keys: Watermill copies a message's
// metadata for every subscriber, and a map of up to eight entries is one
// allocation. The recording time stays in the store.
func (m Marshaler) marshalRecord(r eventstore.Record) (*message.Message, error) {
	version, payload := r.SchemaVersion, r.Payload
	if payload == nil {
		var err error
		if version, payload, err = m.Registry.Encode(r.Event); err != nil {
			return nil, err
		}
	}
	msg := message.NewMessage(r.EventID, payload)
	msg.Metadata = message.Metadata{
		metadata.NameKey:             r.Type,
		metadata.SchemaVersionKey:    strconv.Itoa(version),
		metadata.AggregateTypeKey:    r.AggregateType,
		metadata.AggregateIDKey:      r.AggregateID,
		metadata.AggregateVersionKey: strconv.Itoa(r.Version),
		metadata.OccurredAtKey:       r.OccurredAt.UTC().Format(time.RFC3339Nano),
		metadata.CorrelationIDKey:    r.CorrelationID,
		metadata.CausationIDKey:      r.CausationID,
	}
	// The publish's trace context, where something traces (EventBus).
	for k, v := range r.Trace {
		msg.Metadata[k] = v
	}
	return msg, nil
}

// Unmarshal decodes a message into v, an empty event, upcasting it first.
// Failures are fault.Malformed.
func (m Marshaler) Unmarshal(msg *message.Message, v any) error {
	e, ok := v.(es.Event)
	if !ok {
		return fmt.Errorf("cannot unmarshal into %T: not an event", v)
	}
	version, err := strconv.Atoi(msg.Metadata.Get(metadata.SchemaVersionKey))
	if err != nil {
		return fault.Malformed(fmt.Errorf("message %s: schema version %q", msg.UUID, msg.Metadata.Get(metadata.SchemaVersionKey)))
	}
	return m.Registry.DecodeInto(e, version, msg.Payload)
}

// Name is the wire name of a record or event.
func (m Marshaler) Name(v any) string {
	switch v := v.(type) {
	case eventstore.Record:
		return v.Type
	case es.Event:
		return v.EventName()
	default:
		return fmt.Sprintf("unnamed %T", v)
	}
}

// NameFromMessage is the wire name a message carries.
func (Marshaler) NameFromMessage(msg *message.Message) string {
	return msg.Metadata.Get(metadata.NameKey)
}

// RecordFromMessage rebuilds the envelope of an event message around its
// decoded event. A message without a complete envelope is fault.Malformed.
func RecordFromMessage(msg *message.Message, e es.Event) (eventstore.Record, error) {
	var problems []error
	md := msg.Metadata
	version, err := strconv.Atoi(md.Get(metadata.AggregateVersionKey))
	if err != nil || version < 1 {
		problems = append(problems, fmt.Errorf("aggregate version %q", md.Get(metadata.AggregateVersionKey)))
	}
	schema, _ := strconv.Atoi(md.Get(metadata.SchemaVersionKey))
	occurred, err := time.Parse(time.RFC3339Nano, md.Get(metadata.OccurredAtKey))
	if err != nil {
		problems = append(problems, fmt.Errorf("occurred at %q", md.Get(metadata.OccurredAtKey)))
	}
	if md.Get(metadata.AggregateIDKey) == "" || md.Get(metadata.AggregateTypeKey) == "" {
		problems = append(problems, errors.New("aggregate type or id missing"))
	}
	if len(problems) > 0 {
		return eventstore.Record{}, fault.Malformed(fmt.Errorf("message %s: %w", msg.UUID, errors.Join(problems...)))
	}
	return eventstore.Record{
		EventID:       msg.UUID,
		AggregateType: md.Get(metadata.AggregateTypeKey),
		AggregateID:   md.Get(metadata.AggregateIDKey),
		Version:       version,
		Type:          md.Get(metadata.NameKey),
		SchemaVersion: schema,
		Event:         e,
		CorrelationID: md.Get(metadata.CorrelationIDKey),
		CausationID:   md.Get(metadata.CausationIDKey),
		OccurredAt:    occurred,
	}, nil
}
