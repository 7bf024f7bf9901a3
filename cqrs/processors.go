package cqrs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	wcqrs "github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"

	"shop/app/eventstore"
	"shop/domain/es"
)

// EventHandler is what policies and projections implement: they get the
// stored record, envelope and event, never a Watermill message.
type EventHandler interface {
	Handle(ctx context.Context, rec eventstore.Record) error
}

// SubscriberFactory makes the subscriber of one consumer group. Consumers of
// one group compete for messages; every group gets every message.
type SubscriberFactory func(consumerGroup string) (message.Subscriber, error)

// Processors registers event handlers on a router as Watermill event group
// processors, once per partition.
type Processors struct {
	topics    Topics
	marshaler Marshaler
	known     *KnownNames
	dedup     *Deduplicator
	events    *wcqrs.EventGroupProcessor

	groupTopics map[string]string
	bindings    []Binding
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
	Logger      *slog.Logger
}

// NewProcessors builds the processors on cfg.Router.
func NewProcessors(cfg ProcessorsConfig) (*Processors, error) {
	if cfg.Router == nil || cfg.Subscribers == nil || cfg.Known == nil || cfg.Dedup == nil || cfg.Logger == nil || cfg.Marshaler.Registry == nil {
		return nil, errors.New("processors: router, subscribers, known names, deduplicator, logger and registry are required")
	}
	p := &Processors{topics: cfg.Topics, marshaler: cfg.Marshaler, known: cfg.Known, dedup: cfg.Dedup, groupTopics: map[string]string{}}
	wlogger := WatermillLogger(cfg.Logger)
	var err error
	p.events, err = wcqrs.NewEventGroupProcessorWithConfig(cfg.Router, wcqrs.EventGroupProcessorConfig{
		GenerateSubscribeTopic: func(params wcqrs.EventGroupProcessorGenerateSubscribeTopicParams) (string, error) {
			topic, ok := p.groupTopics[params.EventGroupName]
			if !ok {
				return "", fmt.Errorf("no topic for group %s", params.EventGroupName)
			}
			return topic, nil
		},
		SubscriberConstructor: func(params wcqrs.EventGroupProcessorSubscriberConstructorParams) (message.Subscriber, error) {
			return cfg.Subscribers(params.EventGroupName)
		},
		// An event of the aggregate that the group does not react to is
		// acknowledged; types nobody knows were refused by KnownNames before.
		AckOnUnknownEvent: true,
		Marshaler:         cfg.Marshaler,
		Logger:            wlogger,
	})
	if err != nil {
		return nil, err
	}
	return p, nil
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
	handlers := make([]wcqrs.GroupEventHandler, len(eventTypes))
	for i, t := range eventTypes {
		owner, ok := p.marshaler.Registry.AggregateType(t)
		if !ok || owner != aggregateType {
			return fmt.Errorf("event handler %s: %s is not an event of %s", name, t, aggregateType)
		}
		newEvent := func() es.Event {
			e, _ := p.marshaler.Registry.New(t)
			return e
		}
		handlers[i] = recordHandler{newEvent: newEvent, handler: h}
		p.known.Add(t)
	}
	for partition := range p.topics.Partitions {
		group := PartitionName(name, partition)
		p.groupTopics[group] = p.topics.Events(aggregateType, partition)
		p.bindings = append(p.bindings, Binding{ConsumerGroup: group, Topic: p.groupTopics[group]})
		if opts.Deduplicate {
			p.dedup.Guard(group, name)
		}
		if err := p.events.AddHandlersGroup(group, handlers...); err != nil {
			return fmt.Errorf("event handler %s: %w", name, err)
		}
	}
	return nil
}

// PartitionName names the consumer group of one partition of a handler.
func PartitionName(name string, partition int) string {
	return name + ".p" + strconv.Itoa(partition)
}

type recordHandler struct {
	newEvent func() es.Event
	handler  EventHandler
}

func (r recordHandler) NewEvent() any { return r.newEvent() }

func (r recordHandler) Handle(ctx context.Context, e any) error {
	msg := wcqrs.OriginalMessageFromCtx(ctx)
	if msg == nil {
		return errors.New("event handled outside a message")
	}
	rec, err := RecordFromMessage(msg, e.(es.Event))
	if err != nil {
		return err
	}
	return r.handler.Handle(ctx, rec)
}
