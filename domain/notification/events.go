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
		{SchemaVersion: 1, New: func() es.Event { return &Withheld{} }},
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
	// CustomerID is whose the recipient is; empty in what versions before
	// it recorded.
	CustomerID string
	Kind       Kind
	Channel    Channel
	Recipient  string
	Attempt    int
	SentAt     time.Time
	// Logged is set when no provider was configured for the channel and
	// the notification went to the log only.
	Logged bool
}

// DeliveryFailed: an attempt failed. GaveUp is set on the last attempt, after
// which the notification is failed for good.
type DeliveryFailed struct {
	NotificationID string
	OrderID        string
	// CustomerID is whose the recipient is; empty in what versions before
	// it recorded.
	CustomerID string
	Kind       Kind
	Channel    Channel
	Recipient  string
	Attempt    int
	Error      string
	GaveUp     bool
	// Permanent is set when the provider refused the notification for good;
	// GaveUp is set with it. Without it, GaveUp means the attempts ran out.
	Permanent bool
	FailedAt  time.Time
}

// Withheld: the notification was not sent, and never will be, since the
// customer's personal data, the address with it, was erased.
type Withheld struct {
	NotificationID string
	OrderID        string
	Kind           Kind
	Channel        Channel
	WithheldAt     time.Time
}

func (*RecipientNoted) EventName() string { return "notification.recipient_noted" }
func (*Withheld) EventName() string       { return "notification.withheld" }
func (*Sent) EventName() string           { return "notification.sent" }
func (*DeliveryFailed) EventName() string { return "notification.delivery_failed" }

// The contact noted, and the addresses and provider answers of deliveries,
// which may quote them, are the customer's personal data.

func (e *RecipientNoted) DataSubject() string { return e.CustomerID }
func (e *RecipientNoted) PersonalData() []*string {
	return []*string{&e.Contact.Email, &e.Contact.Phone, &e.Contact.DeviceToken}
}

func (e *Sent) DataSubject() string     { return e.CustomerID }
func (e *Sent) PersonalData() []*string { return []*string{&e.Recipient} }

func (e *DeliveryFailed) DataSubject() string     { return e.CustomerID }
func (e *DeliveryFailed) PersonalData() []*string { return []*string{&e.Recipient, &e.Error} }
