package cqrs

import (
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"shop/cqrs/metadata"
	"shop/infrastructure/tracing"
)

// traceDelivery handles each delivery in a consumer span, a child of the
// publish whose trace context the message carries in its metadata: the
// spans of one order, from its POST to its notification, are one trace
// across relays, brokers and processes. What the handler appends is the
// span's child.
func traceDelivery(t *tracing.Tracing) message.HandlerMiddleware {
	keys := t.Keys()
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			carrier := make(map[string]string, len(keys))
			for _, k := range keys {
				if v := msg.Metadata.Get(k); v != "" {
					carrier[k] = v
				}
			}
			ctx := msg.Context()
			opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer)}
			// A message released from the parking is handled inside the
			// delivery that released it: it is that delivery's link, not
			// its child.
			if releasing := trace.SpanContextFromContext(ctx); releasing.IsValid() && ctx.Value(releasingKey{}) != nil {
				ctx = trace.ContextWithSpanContext(ctx, trace.SpanContext{})
				opts = append(opts, trace.WithLinks(trace.Link{SpanContext: releasing}))
			}
			ctx = t.Extract(ctx, carrier)
			handler := message.HandlerNameFromCtx(ctx)
			name := msg.Metadata.Get(metadata.NameKey)
			ctx, span := t.Start(ctx, handler+" "+name, opts...)
			defer span.End()
			if span.IsRecording() {
				span.SetAttributes(
					attribute.String("messaging.operation.type", "process"),
					attribute.String("messaging.destination.name", message.SubscribeTopicFromCtx(ctx)),
					attribute.String("messaging.consumer.group.name", handler),
					attribute.String("messaging.message.id", msg.UUID),
					attribute.String("shop.event_type", name),
					attribute.String("shop.aggregate_id", msg.Metadata.Get(metadata.AggregateIDKey)),
					attribute.String("shop.aggregate_version", msg.Metadata.Get(metadata.AggregateVersionKey)),
					attribute.String("shop.causation_id", msg.Metadata.Get(metadata.CausationIDKey)),
				)
			}
			msg.SetContext(ctx)
			out, err := h(msg)
			switch {
			case err != nil:
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
			case poisoned(msg):
				reason := msg.Metadata.Get(middleware.ReasonForPoisonedKey)
				span.AddEvent("set aside as a dead letter", trace.WithAttributes(attribute.String("reason", reason)))
				span.SetStatus(codes.Error, reason)
			}
			return out, err
		}
	}
}
