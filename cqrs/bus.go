package cqrs

import (
	"context"
	"fmt"

	"github.com/ThreeDotsLabs/watermill"
	wcqrs "github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"

	"shop/app/eventstore"
)

// EventBus publishes stored records to the partition of their aggregate.
type EventBus struct {
	bus *wcqrs.EventBus
}

// NewEventBus builds an event bus publishing with pub.
func NewEventBus(pub message.Publisher, topics Topics, marshaler Marshaler, logger watermill.LoggerAdapter) (*EventBus, error) {
	bus, err := wcqrs.NewEventBusWithConfig(pub, wcqrs.EventBusConfig{
		GeneratePublishTopic: func(p wcqrs.GenerateEventPublishTopicParams) (string, error) {
			rec := p.Event.(eventstore.Record)
			return topics.Events(rec.AggregateType, topics.Partition(rec.AggregateID)), nil
		},
		Marshaler: marshaler,
		Logger:    logger,
	})
	if err != nil {
		return nil, err
	}
	return &EventBus{bus: bus}, nil
}

// Publish publishes one record.
func (b *EventBus) Publish(ctx context.Context, rec eventstore.Record) error {
	if err := b.bus.Publish(ctx, rec); err != nil {
		return fmt.Errorf("publish %s %s: %w", rec.Type, rec.EventID, err)
	}
	return nil
}
