package tracing

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"shop/app/notifications"
)

type sender struct {
	notifications.Sender
	tracing *Tracing
}

// Sender traces every delivery of a notification to its provider in a
// client span: the end of an order's trace. The span names the channel,
// never the recipient.
func (t *Tracing) Sender(s notifications.Sender) notifications.Sender {
	return sender{Sender: s, tracing: t}
}

func (s sender) Send(ctx context.Context, m notifications.Message) (notifications.Receipt, error) {
	ctx, span := s.tracing.Start(ctx, "send "+m.Channel.String(), trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("shop.channel", m.Channel.String()), attribute.String("shop.notification", m.IdempotencyKey)))
	defer span.End()
	receipt, err := s.Sender.Send(ctx, m)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.SetAttributes(attribute.Bool("shop.logged_only", receipt.Logged))
	return receipt, err
}
