package notification

import (
	"time"

	"shop/domain/es"
	"shop/domain/money"
)

// AggregateType names the streams of correspondences in the event store and
// on the bus. (Versions before correspondences kept a stream per
// notification, named order:kind:channel, of the same type and events.)
const AggregateType = "notification"

// Events lists every event of a correspondence.
func Events() []es.EventType {
	return []es.EventType{
		{SchemaVersion: 1, New: func() es.Event { return &RecipientNoted{} }},
		{SchemaVersion: 1, New: func() es.Event { return &Sent{} }},
		{SchemaVersion: 1, New: func() es.Event { return &DeliveryFailed{} }},
	}
}

// RecipientNoted: whom the order's notifications go to, as its placement said.
type RecipientNoted struct {
	OrderID    string
	CustomerID string
	Contact    Contact
	// Items are the order's lines, which every notification of the order
	// names; none in what versions before them noted.
	Items   []Item
	Total   money.Amount
	NotedAt time.Time
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
	// Logged is set when no provider was configured for the channel and
	// the notification went to the log only.
	Logged bool
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
	// Permanent is set when the provider refused the notification for good;
	// GaveUp is set with it. Without it, GaveUp means the attempts ran out.
	Permanent bool
	FailedAt  time.Time
}

func (*RecipientNoted) EventName() string { return "notification.recipient_noted" }
func (*Sent) EventName() string           { return "notification.sent" }
func (*DeliveryFailed) EventName() string { return "notification.delivery_failed" }
