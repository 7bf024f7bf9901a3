package cqrs

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/ThreeDotsLabs/watermill/message"

	"shop/app/eventstore"
	"shop/app/fault"
)

// EventHandler is what policies and projections implement: they get the
// stored record, envelope and event, never a Watermill message.
type EventHandler interface {
	Handle(ctx context.Context, rec eventstore.Record) error
}

// SubscriberFactory makes the subscriber of one consumer group. Consumers of
// one group compete for messages; every group gets every message.
type SubscriberFactory func(consumerGroup string) (message.Subscriber, error)

// Processors registers event handlers on a router, once per partition: each
// partition of a handler is a consumer group of its own, reading one topic.
//
// A message is handed to its handler by the event name it carries, looked up
// once. Watermill's cqrs.EventGroupProcessor does the same job by making two
// empty events of every type the group handles, and a log field map, for
// every message, to compare names: a tenth of what the embedded system
// allocated.
type Processors struct {
	router      *message.Router
	topics      Topics
	marshaler   Marshaler
	subscribers SubscriberFactory
	known       *KnownNames
	dedup       *Deduplicator

	bindings []Binding
}

// Binding is a consumer group and the topic it reads.
type Binding struct {
	ConsumerGroup, Topic string
}

// Bindings lists what the registered handlers read.
func (p *Processors) Bindings() []Binding { return p.bindings }

// ProcessorsConfig holds what Processors needs.
type ProcessorsConfig struct {
	Router      *message.Router
	Topics      Topics
	Marshaler   Marshaler
	Subscribers SubscriberFactory
	Known       *KnownNames
	Dedup       *Deduplicator
}

// NewProcessors builds the processors on cfg.Router.
func NewProcessors(cfg ProcessorsConfig) (*Processors, error) {
	if cfg.Router == nil || cfg.Subscribers == nil || cfg.Known == nil || cfg.Dedup == nil || cfg.Marshaler.Registry == nil {
		return nil, errors.New("processors: router, subscribers, known names, deduplicator and registry are required")
	}
	return &Processors{router: cfg.Router, topics: cfg.Topics, marshaler: cfg.Marshaler, subscribers: cfg.Subscribers, known: cfg.Known, dedup: cfg.Dedup}, nil
}

// EventHandlerOptions says how an event handler is registered.
type EventHandlerOptions struct {
	// Deduplicate drops messages the handler already handled. Handlers that
	// are idempotent by themselves (projections) leave it off.
	Deduplicate bool
}

// AddEventHandler subscribes h, under name, to the events of one aggregate
// type that it handles; the other events of the aggregate are acknowledged.
// The name names queues and consumer groups: renaming it starts them afresh.
func (p *Processors) AddEventHandler(name, aggregateType string, eventTypes []string, h EventHandler, opts EventHandlerOptions) error {
	if len(eventTypes) == 0 {
		return fmt.Errorf("event handler %s handles no events", name)
	}
	handles := make(map[string]bool, len(eventTypes))
	for _, t := range eventTypes {
		owner, ok := p.marshaler.Registry.AggregateType(t)
		if !ok || owner != aggregateType {
			return fmt.Errorf("event handler %s: %s is not an event of %s", name, t, aggregateType)
		}
		handles[t] = true
		p.known.Add(t)
	}
	for partition := range p.topics.Partitions {
		group := PartitionName(name, partition)
		topic := p.topics.Events(aggregateType, partition)
		sub, err := p.subscribers(group)
		if err != nil {
			return fmt.Errorf("event handler %s: %w", name, err)
		}
		p.bindings = append(p.bindings, Binding{ConsumerGroup: group, Topic: topic})
		if opts.Deduplicate {
			p.dedup.Guard(group, name)
		}
		p.known.Interested(group, handles)
		p.router.AddConsumerHandler(group, topic, sub, p.dispatch(handles, h))
	}
	return nil
}

// dispatch decodes a message of a type h handles into its record and hands
// it to h; a message of another type of the aggregate is acknowledged (types
// nobody knows were refused by KnownNames before).
func (p *Processors) dispatch(handles map[string]bool, h EventHandler) message.NoPublishHandlerFunc {
	return func(msg *message.Message) error {
		name := msg.Metadata.Get(NameKey)
		if !handles[name] {
			return nil
		}
		e, err := p.marshaler.Registry.New(name)
		if err != nil {
			return fault.Malformed(fmt.Errorf("message %s: %w", msg.UUID, err))
		}
		if err := p.marshaler.Unmarshal(msg, e); err != nil {
			return err
		}
		rec, err := RecordFromMessage(msg, e)
		if err != nil {
			return err
		}
		return h.Handle(msg.Context(), rec)
	}
}

// PartitionName names the consumer group of one partition of a handler.
func PartitionName(name string, partition int) string {
	return name + ".p" + strconv.Itoa(partition)
}
