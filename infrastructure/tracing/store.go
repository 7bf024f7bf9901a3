package tracing

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"shop/app/eventstore"
)

// store traces the appends of an event store.
type store struct {
	eventstore.Store
	tracing *Tracing
	service string
}

// Store traces every append to the service's event store in a span, and
// has each appended record keep that span's context, which its publish
// continues. The records are marked in place: the repository hands the
// same records to its relay once they are stored.
func (t *Tracing) Store(service string, s eventstore.Store) eventstore.Store {
	return store{Store: s, tracing: t, service: service}
}

func (s store) Append(ctx context.Context, records []eventstore.Record) error {
	if len(records) == 0 {
		return s.Store.Append(ctx, records)
	}
	first := records[0]
	ctx, span := s.tracing.Start(ctx, "append "+first.AggregateType, trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(
			attribute.String("shop.service", s.service),
			attribute.String("shop.aggregate_id", first.AggregateID),
			attribute.Int("shop.aggregate_version", first.Version+len(records)-1),
			attribute.Int("shop.events", len(records)),
			attribute.String("shop.event_type", first.Type),
		))
	defer span.End()
	carrier := s.tracing.Inject(ctx)
	for i := range records {
		records[i].Trace = carrier
	}
	err := s.Store.Append(ctx, records)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	return err
}
