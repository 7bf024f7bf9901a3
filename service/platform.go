package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"shop/app/decorator"
	"shop/app/eventstore"
	"shop/cqrs"
	"shop/domain/inventory"
	"shop/domain/notification"
	"shop/domain/order"
	"shop/infrastructure/system"
	"shop/ports/httpport"
)

// Platform is what the services of one process share: the bus, the event type
// registry, the clock and the logger. Each service still keeps its own data.
type Platform struct {
	Logger    *slog.Logger
	Registry  *cqrs.Registry
	Marshaler cqrs.Marshaler
	Topics    cqrs.Topics
	Bus       Bus
	Clock     eventstore.Clock
	IDs       eventstore.IDs
	Metrics   decorator.Metrics
}

// Bus is a message broker as the services use it.
type Bus struct {
	// Name is the dependency's name in /health.
	Name        string
	Publisher   message.Publisher
	Subscribers cqrs.SubscriberFactory
	Check       func(context.Context) error
	Close       func() error
}

// NewRegistry registers the events of every bounded context.
func NewRegistry() (*cqrs.Registry, error) {
	return cqrs.NewRegistry(
		cqrs.AggregateEvents{AggregateType: order.AggregateType, Events: order.Events()},
		cqrs.AggregateEvents{AggregateType: inventory.StockAggregateType, Events: inventory.StockEvents()},
		cqrs.AggregateEvents{AggregateType: inventory.ReservationAggregateType, Events: inventory.ReservationEvents()},
		cqrs.AggregateEvents{AggregateType: notification.AggregateType, Events: notification.Events()},
	)
}

func newPlatform(cfg Config, logger *slog.Logger) (*Platform, error) {
	registry, err := NewRegistry()
	if err != nil {
		return nil, err
	}
	return &Platform{
		Logger:    logger,
		Registry:  registry,
		Marshaler: cqrs.Marshaler{Registry: registry},
		Topics:    cfg.Topics,
		Bus:       newGoChannelBus(logger),
		Clock:     system.Clock{},
		IDs:       system.IDs{},
		Metrics:   decorator.NoMetrics{},
	}, nil
}

// newGoChannelBus is the in-process bus of the embedded mode.
//
// Publishing blocks until every subscriber acknowledged the message: without
// that, GoChannel hands each message to its subscribers on a goroutine of its
// own, and two events of one aggregate can overtake each other. Blocking is
// safe here because only the relay and the policies publish, and the command
// handlers the policies wait for append to the store without publishing.
func newGoChannelBus(logger *slog.Logger) Bus {
	pubsub := gochannel.NewGoChannel(gochannel.Config{BlockPublishUntilSubscriberAck: true}, cqrs.WatermillLogger(logger))
	var closed atomic.Bool
	return Bus{
		Name:      "gochannel",
		Publisher: pubsub,
		// Routers close their subscribers when they stop; the process's one
		// GoChannel must outlive them, so that the relay can still flush.
		Subscribers: func(string) (message.Subscriber, error) { return sharedSubscriber{pubsub}, nil },
		Check: func(context.Context) error {
			if closed.Load() {
				return errors.New("closed")
			}
			return nil
		},
		Close: func() error {
			closed.Store(true)
			return pubsub.Close()
		},
	}
}

type sharedSubscriber struct{ message.Subscriber }

func (sharedSubscriber) Close() error { return nil }

// newRouter builds one service's router and processors on the platform's bus.
func (p *Platform) newRouter(cfg Config, dedup cqrs.ProcessedMessages) (*message.Router, *cqrs.Processors, error) {
	known := cqrs.NewKnownNames()
	deduplicator := cqrs.NewDeduplicator(dedup, p.Logger)
	router, err := cqrs.NewRouter(cfg.Router, p.Bus.Publisher, p.Topics, known, deduplicator, p.Logger)
	if err != nil {
		return nil, nil, fmt.Errorf("router: %w", err)
	}
	processors, err := cqrs.NewProcessors(cqrs.ProcessorsConfig{
		Router: router, Topics: p.Topics, Marshaler: p.Marshaler, Subscribers: p.Bus.Subscribers,
		Known: known, Dedup: deduplicator, Logger: p.Logger,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("processors: %w", err)
	}
	return router, processors, nil
}

// newRelay builds the relay of one service's event store.
func (p *Platform) newRelay(cfg Config, store eventstore.Store) (*cqrs.Relay, error) {
	bus, err := cqrs.NewEventBus(p.Bus.Publisher, p.Topics, p.Marshaler, cqrs.WatermillLogger(p.Logger))
	if err != nil {
		return nil, err
	}
	return cqrs.NewRelay(cqrs.RelayConfig{
		Store: store, Publisher: bus, Topics: p.Topics, Logger: p.Logger,
		SweepInterval: cfg.RelaySweepInterval, SweepAge: cfg.RelaySweepAge,
	})
}

func (p *Platform) newCommandBus() (*cqrs.CommandBus, error) {
	return cqrs.NewCommandBus(p.Bus.Publisher, p.Topics, p.Marshaler, cqrs.WatermillLogger(p.Logger))
}

func (p *Platform) busDependency() httpport.Dependency {
	return httpport.Dependency{Name: p.Bus.Name, Required: true, Check: p.Bus.Check}
}

// eventNames lists every event type of an aggregate type: projections handle
// them all, since every event moves the version they keep.
func (p *Platform) eventNames(aggregateType string) []string {
	var names []string
	for _, t := range p.Registry.EventTypes(aggregateType) {
		names = append(names, t.Name())
	}
	return names
}
