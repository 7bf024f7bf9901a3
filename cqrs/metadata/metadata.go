// Package metadata names the metadata keys every message on the bus
// carries. It imports nothing, so that the transports (RabbitMQ, Redis
// Streams) can mark what they hand on without depending on the cqrs package.
package metadata

const (
	// NameKey is the event's name; it is Watermill's own key for it.
	NameKey             = "name"
	SchemaVersionKey    = "schema_version"
	AggregateTypeKey    = "aggregate_type"
	AggregateIDKey      = "aggregate_id"
	AggregateVersionKey = "aggregate_version"
	OccurredAtKey       = "occurred_at"
	CorrelationIDKey    = "correlation_id"
	CausationIDKey      = "causation_id"
	// UndecodableKey is set by a transport on a message it could not read,
	// with the reason; the router poisons such a message.
	UndecodableKey = "undecodable"
)
