package cqrs

import (
	"context"
	"fmt"

	"github.com/ThreeDotsLabs/watermill"
	wcqrs "github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"shop/app/eventstore"
	"shop/infrastructure/tracing"
)

// EventBus publishes stored records to the partition of their aggregate.
type EventBus struct {
	bus     *wcqrs.EventBus
	topics  Topics
	tracing *tracing.Tracing
}

// NewEventBus builds an event bus publishing with pub; with tracing, each
// publish is a span whose context the message carries.
func NewEventBus(pub message.Publisher, topics Topics, marshaler Marshaler, tracing *tracing.Tracing, logger watermill.LoggerAdapter) (*EventBus, error) {
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
	return &EventBus{bus: bus, topics: topics, tracing: tracing}, nil
}

// Publish publishes one record.
func (b *EventBus) Publish(ctx context.Context, rec eventstore.Record) error {
	var span trace.Span
	if b.tracing != nil {
		ctx, span = b.startPublish(ctx, &rec)
		defer span.End()
	}
	if err := b.bus.Publish(ctx, rec); err != nil {
		err = fmt.Errorf("publish %s %s: %w", rec.Type, rec.EventID, err)
		if span != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		return err
	}
	return nil
}

// startPublish starts the span of a publish and has the record carry its
// context onto the message. Its parent is the append that stored the
// record, whose context the record kept: a relay publishes on a context of
// its own, maybe in another process, minutes later. A publish made in a
// span of its own (an operator's replay through the admin API) is that
// span's child, linked to the append.
func (b *EventBus) startPublish(ctx context.Context, rec *eventstore.Record) (context.Context, trace.Span) {
	topic := b.topics.Events(rec.AggregateType, b.topics.Partition(rec.AggregateID))
	opts := []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String("messaging.operation.type", "send"),
			attribute.String("messaging.destination.name", topic),
			attribute.String("messaging.message.id", rec.EventID),
			attribute.String("shop.event_type", rec.Type),
			attribute.String("shop.aggregate_id", rec.AggregateID),
			attribute.Int("shop.aggregate_version", rec.Version),
		),
	}
	if trace.SpanContextFromContext(ctx).IsValid() {
		appended := b.tracing.Extract(context.Background(), rec.Trace)
		if sc := trace.SpanContextFromContext(appended); sc.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
		}
	} else {
		ctx = b.tracing.Extract(ctx, rec.Trace)
	}
	ctx, span := b.tracing.Start(ctx, "publish "+topic, opts...)
	rec.Trace = b.tracing.Inject(ctx)
	return ctx, span
}
