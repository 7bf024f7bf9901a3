package cqrs

import (
	"context"
	"fmt"

	"github.com/ThreeDotsLabs/watermill"
	wcqrs "github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"shop/app/eventstore"
)

// commandIDNamespace makes command ids derived from their cause.
var commandIDNamespace = uuid.MustParse("6f3f1d7c-3a43-4e0e-9a59-5b8f1c2e0a11")

// CommandBus sends commands to the partition of the aggregate they target.
//
// A command sent while handling a message gets an id derived from that
// message, the command's name and its target: when the message is delivered
// again, the command sent again has the same id, and the receiver's
// deduplication drops it.
type CommandBus struct {
	bus *wcqrs.CommandBus
}

// NewCommandBus builds a command bus publishing with pub.
func NewCommandBus(pub message.Publisher, topics Topics, marshaler Marshaler, logger watermill.LoggerAdapter) (*CommandBus, error) {
	bus, err := wcqrs.NewCommandBusWithConfig(pub, wcqrs.CommandBusConfig{
		GeneratePublishTopic: func(p wcqrs.CommandBusGeneratePublishTopicParams) (string, error) {
			return topics.Command(p.CommandName, topics.Partition(p.Command.(Command).Target())), nil
		},
		OnSend: func(p wcqrs.CommandBusOnSendParams) error {
			cmd := p.Command.(Command)
			cause := eventstore.CauseFrom(p.Message.Context())
			if cause.CausationID != "" {
				p.Message.UUID = uuid.NewSHA1(commandIDNamespace, []byte(cause.CausationID+"|"+cmd.CommandName()+"|"+cmd.Target())).String()
			}
			correlation := cause.CorrelationID
			if correlation == "" {
				correlation = p.Message.UUID
			}
			p.Message.Metadata.Set(CorrelationIDKey, correlation)
			p.Message.Metadata.Set(CausationIDKey, cause.CausationID)
			p.Message.Metadata.Set(AggregateIDKey, cmd.Target())
			return nil
		},
		Marshaler: marshaler,
		Logger:    logger,
	})
	if err != nil {
		return nil, err
	}
	return &CommandBus{bus: bus}, nil
}

// Send publishes cmd, which must be a Command.
func (b *CommandBus) Send(ctx context.Context, cmd any) error {
	c, ok := cmd.(Command)
	if !ok {
		return fmt.Errorf("send %T: not a command (it needs CommandName and Target)", cmd)
	}
	if err := b.bus.Send(ctx, c); err != nil {
		return fmt.Errorf("send %s to %s: %w", c.CommandName(), c.Target(), err)
	}
	return nil
}

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
