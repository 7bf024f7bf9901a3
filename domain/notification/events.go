package notification

import (
	"time"

	"shop/domain/es"
)

// AggregateType names notification streams in the event store and on the bus.
const AggregateType = "notification"

// Events lists every event of a notification.
func Events() []es.EventType {
	return []es.EventType{
		{SchemaVersion: 1, New: func() es.Event { return &Sent{} }},
		{SchemaVersion: 1, New: func() es.Event { return &DeliveryFailed{} }},
	}
}

// Sent: the notification reached its channel.
type Sent struct {
	NotificationID string
	OrderID        string
	Kind           Kind
	Channel        Channel
	Recipient      string
	Attempt        int
	SentAt         time.Time
}

// DeliveryFailed: an attempt failed. GaveUp is set on the last attempt, after
// which the notification is failed for good.
type DeliveryFailed struct {
	NotificationID string
	OrderID        string
	Kind           Kind
	Channel        Channel
	Recipient      string
	Attempt        int
	Error          string
	GaveUp         bool
	FailedAt       time.Time
}

func (*Sent) EventName() string           { return "notification.sent" }
func (*DeliveryFailed) EventName() string { return "notification.delivery_failed" }
