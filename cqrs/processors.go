package cqrs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/ThreeDotsLabs/watermill/message"

	"shop/app/eventstore"
	"shop/app/fault"
	"shop/cqrs/metadata"
)

// EventHandler is what policies and projections implement: they get the
// stored record, envelope and event, never a Watermill message.
type EventHandler interface {
	Handle(ctx context.Context, rec eventstore.Record) error
}

// SubscriberFactory makes the subscriber of one consumer group. Consumers of
// one group compete for messages; every group gets every message.
type SubscriberFactory func(consumerGroup string) (message.Subscriber, error)

// Processors registers event handlers, once per partition: each partition
// of a handler is a consumer group of its own, reading one topic. The
// handlers of one partition run on a router of their own, started and
// stopped as the partition comes to this replica and leaves it
// (Assignment).
//
// A message is handed to its handler by the event name it carries, looked up
// once. Watermill's cqrs.EventGroupProcessor does the same job by making two
// empty events of every type the group handles, and a log field map, for
// every message, to compare names: a tenth of what the embedded system
// allocated.
type Processors struct {
	newRouter   func() (*message.Router, error)
	topics      Topics
	marshaler   Marshaler
	subscribers SubscriberFactory
	takeOver    func(ctx context.Context, consumerGroup, topic string) error
	known       *KnownNames
	dedup       *Deduplicator
	ended       func(partition int, err error)

	handlers []string
	bindings []Binding
	routes   [][]route // per partition
}

type route struct {
	group, topic string
	handle       message.NoPublishHandlerFunc
}

// Binding is a consumer group and the topic it reads.
type Binding struct {
	ConsumerGroup, Topic string
}

// Bindings lists what the registered handlers read.
func (p *Processors) Bindings() []Binding { return p.bindings }

// Handlers lists the names of the registered handlers.
func (p *Processors) Handlers() []string { return p.handlers }

// ProcessorsConfig holds what Processors needs.
type ProcessorsConfig struct {
	// NewRouter builds the router of one partition (NewRouter with the
	// service's settings).
	NewRouter   func() (*message.Router, error)
	Topics      Topics
	Marshaler   Marshaler
	Subscribers SubscriberFactory
	// TakeOver, when set, is called for each consumer group of a partition
	// before this replica subscribes it: where the bus leaves the messages
	// a previous owner held with it (Redis Streams), they are taken first.
	TakeOver func(ctx context.Context, consumerGroup, topic string) error
	Known    *KnownNames
	Dedup    *Deduplicator
	// Ended hears of a partition's router that stopped by itself.
	Ended func(partition int, err error)
}

// NewProcessors builds the processors.
func NewProcessors(cfg ProcessorsConfig) (*Processors, error) {
	if cfg.NewRouter == nil || cfg.Subscribers == nil || cfg.Known == nil || cfg.Dedup == nil || cfg.Marshaler.Registry == nil || cfg.Ended == nil {
		return nil, errors.New("processors: router, subscribers, known names, deduplicator, registry and ended are required")
	}
	if err := cfg.Topics.Validate(); err != nil {
		return nil, fmt.Errorf("processors: %w", err)
	}
	return &Processors{
		newRouter: cfg.NewRouter, topics: cfg.Topics, marshaler: cfg.Marshaler, subscribers: cfg.Subscribers,
		takeOver: cfg.TakeOver, known: cfg.Known, dedup: cfg.Dedup, ended: cfg.Ended,
		routes: make([][]route, cfg.Topics.Partitions),
	}, nil
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
	if slices.Contains(p.handlers, name) {
		return fmt.Errorf("event handler %s is registered twice", name)
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
	p.handlers = append(p.handlers, name)
	for partition := range p.topics.Partitions {
		group := PartitionName(name, partition)
		topic := p.topics.Events(aggregateType, partition)
		p.bindings = append(p.bindings, Binding{ConsumerGroup: group, Topic: topic})
		if opts.Deduplicate {
			p.dedup.Guard(group, name)
		}
		p.known.Interested(group, handles)
		p.routes[partition] = append(p.routes[partition], route{group: group, topic: topic, handle: p.dispatch(handles, h)})
	}
	return nil
}

// StartPartition runs every handler of one partition on a router of its
// own, and returns once they consume. Stopping closes the router: it stops
// taking messages, lets the handlers in flight finish and their messages be
// acknowledged, and returns then.
func (p *Processors) StartPartition(ctx context.Context, partition int) (stop func() error, err error) {
	if partition < 0 || partition >= len(p.routes) {
		return nil, fmt.Errorf("no partition %d", partition)
	}
	router, err := p.newRouter()
	if err != nil {
		return nil, err
	}
	var subs []*closedOnce
	closeSubs := func() error {
		var errs []error
		for _, sub := range subs {
			errs = append(errs, sub.Close())
		}
		return errors.Join(errs...)
	}
	for _, r := range p.routes[partition] {
		if p.takeOver != nil {
			if err := p.takeOver(ctx, r.group, r.topic); err != nil {
				return nil, errors.Join(fmt.Errorf("take over %s: %w", r.group, err), closeSubs())
			}
		}
		inner, err := p.subscribers(r.group)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("%s: %w", r.group, err), closeSubs())
		}
		sub := &closedOnce{Subscriber: inner}
		subs = append(subs, sub)
		router.AddConsumerHandler(r.group, r.topic, sub, r.handle)
	}
	var stopping atomic.Bool
	done := make(chan error, 1)
	go func() {
		err := router.Run(context.WithoutCancel(ctx))
		if isClosed(router.Running()) && !stopping.Load() {
			p.ended(partition, cmp.Or(err, errors.New("without an error")))
		}
		done <- err
	}()
	select {
	case <-router.Running():
	case err := <-done:
		return nil, errors.Join(fmt.Errorf("partition %d: %w", partition, cmp.Or(err, errors.New("the router stopped at once"))), closeSubs())
	}
	var once sync.Once
	var stopErr error
	return func() error {
		once.Do(func() {
			stopping.Store(true)
			stopErr = errors.Join(router.Close(), <-done, closeSubs())
		})
		return stopErr
	}, nil
}

// dispatch decodes a message of a type h handles into its record and hands
// it to h; a message of another type of the aggregate is acknowledged (types
// nobody knows were refused by KnownNames before).
func (p *Processors) dispatch(handles map[string]bool, h EventHandler) message.NoPublishHandlerFunc {
	return func(msg *message.Message) error {
		name := msg.Metadata.Get(metadata.NameKey)
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

// closedOnce closes its subscriber once, and has every caller of Close wait
// until that close has ended. A partition's stop closes each subscriber
// itself after the router: Watermill's Router.Close returns once the
// handlers have stopped, while it closes their subscribers in goroutines of
// their own that it does not wait for. A Redis Streams subscriber still
// closing may take an entry in a last read and hand back what it held
// later, after the partition's next owner had taken it over, which would
// then get that entry only after the claim idle time.
type closedOnce struct {
	message.Subscriber

	once sync.Once
	err  error
}

// Close returns once the one close, whoever called it first, has ended
// (sync.Once has every caller wait for it).
func (c *closedOnce) Close() error {
	c.once.Do(func() { c.err = c.Subscriber.Close() })
	return c.err
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
